from tests.ari.fixtures import ari_client, fake_ari

__all__ = ["ari_client", "fake_ari"]
