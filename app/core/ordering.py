"""A queue's order of places: (priority, place time, sequence), highest priority first.

Theory of operation: a request keeps one sort key for as long as it holds its place; a caller who
takes a callback keeps the key they had on the line, so the callback is served exactly when the
caller would have been. Leaving the order (ringing an agent, quarantine) and coming back to the
same place reuses the key; a retry after quarantine gets a new key at the end. Positions are the
1-based rank in this order, so they are always a permutation of 1..n without gaps.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator

PlaceKey = tuple[int, float, int]  # (-priority, place time, sequence)


def place_key(priority: int, place_time: float, sequence: int) -> PlaceKey:
    return (-priority, place_time, sequence)


class PlaceOrder:
    def __init__(self) -> None:
        self._keys: list[PlaceKey] = []
        self._ids: dict[PlaceKey, str] = {}

    def add(self, key: PlaceKey, request_id: str) -> None:
        if key in self._ids:
            raise ValueError(f"place {key} is already taken")
        insort(self._keys, key)
        self._ids[key] = request_id

    def remove(self, key: PlaceKey) -> None:
        index = bisect_left(self._keys, key)
        if index == len(self._keys) or self._keys[index] != key:
            raise KeyError(key)
        del self._keys[index]
        del self._ids[key]

    def position(self, key: PlaceKey) -> int:
        index = bisect_left(self._keys, key)
        if index == len(self._keys) or self._keys[index] != key:
            raise KeyError(key)
        return index + 1

    def key_at(self, position: int) -> PlaceKey:
        """The key holding 1-based `position`."""
        if not 1 <= position <= len(self._keys):
            raise IndexError(position)
        return self._keys[position - 1]

    def id_at(self, position: int) -> str:
        return self._ids[self.key_at(position)]

    def __contains__(self, key: object) -> bool:
        return key in self._ids

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        """Request ids in place order; do not change the order while iterating."""
        return (self._ids[k] for k in self._keys)
