"""What can go wrong with the store, named so the service can tell an admin what to do."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every storage failure. Nothing was written by the call that raised it."""


class StoreNotOpen(StoreError):
    pass


class StoreBusy(StoreError):
    """The database stayed locked by someone else longer than the busy timeout."""


class StoreFull(StoreError):
    """The disk (or the database's size limit) is full."""


class StoreIOError(StoreError):
    """The operating system refused to read or write the database file."""


class StoreCorrupt(StoreError):
    """The file is not a database, or is damaged."""


class SchemaTooNew(StoreError):
    """The database was written by a newer Holdfast than this one."""


class StoreDataError(StoreError):
    """A value could not be written (not serializable) or read back (unknown state, bad JSON)."""
