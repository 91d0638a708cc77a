"""Campaigns created over the API, stored per id (app/store/campaign_defs.py): on every backend."""

from __future__ import annotations

from app.store import Store
from tests.store.conftest import StoreFactory


async def test_save_list_replace_and_delete(store: Store) -> None:
    assert await store.campaign_defs() == []
    await store.save_campaign_def("autumn", {"queue": "sales", "max_attempts": 4}, 100.0, "eva")
    await store.save_campaign_def("winter", {"queue": "support", "retry": {"busy": "10m"}}, 101.0, "bo")
    await store.save_campaign_def("autumn", {"queue": "support"}, 200.0, "bo")  # an edit replaces it
    defs = await store.campaign_defs()
    assert [(d.campaign, d.definition, d.created_at, d.updated_at, d.updated_by) for d in defs] == [
        ("autumn", {"queue": "support"}, 100.0, 200.0, "bo"),
        ("winter", {"queue": "support", "retry": {"busy": "10m"}}, 101.0, 101.0, "bo"),
    ]
    assert await store.delete_campaign_def("autumn") is True
    assert await store.delete_campaign_def("autumn") is False
    assert [d.campaign for d in await store.campaign_defs()] == ["winter"]


async def test_definitions_outlive_a_reopen(store_factory: StoreFactory) -> None:
    first = await store_factory()
    await first.save_campaign_def("autumn", {"queue": "sales"}, 1.0, "eva")
    await first.close()
    second = await store_factory()
    assert [(d.campaign, d.definition) for d in await second.campaign_defs()] == [("autumn", {"queue": "sales"})]


async def test_delete_removes_the_campaigns_stored_state(store: Store) -> None:
    """A campaign stopped, deleted and created again under its id came back stopped after the next
    restart, though the API had answered it running: its old state outlived the delete."""
    await store.save_campaign_def("autumn", {"queue": "sales"}, 1.0, "eva")
    await store.set_campaign_state("autumn", "stopped", 2.0, "eva")
    await store.set_campaign_state("spring", "paused", 2.0, "eva")  # another campaign's state stays
    assert await store.delete_campaign_def("autumn") is True
    assert [(s.campaign, s.state) for s in await store.campaign_states()] == [("spring", "paused")]
