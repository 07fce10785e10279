"""Every Faust table the project uses, declared once, and its adapter for ``ranker/``."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import faust
from faust.streams import _current_event
from faust.types import EventT

from streams.topics import USER_STATE_TABLE

DEFAULT_WRITE_BUFFER_MB = 8


def user_state_table(
    app: faust.App,  # type: ignore[type-arg]
    partitions: int,
    write_buffer_mb: int = DEFAULT_WRITE_BUFFER_MB,
) -> faust.Table:  # type: ignore[type-arg]
    """The per-user state table: raw bytes keyed by the user id's bytes.

    Bytes on both sides make Faust use its raw codec everywhere (store,
    changelog, recovery), and keep changelog keys identical to event keys.

    ``write_buffer_mb`` sizes RocksDB's memtable per partition. Faust's 64 MiB
    default is made for big tables; a user's state is ~2 KB and every event
    rewrites it, so the write-ahead log and up to three memtables per partition
    filled with overwrites of the same few keys: the soak saw a worker's state
    folder grow from 15 to 142 MiB in two minutes for 400 users (1 MiB once
    flushed). Small memtables flush often and keep memory and disk near the
    table's real size.
    """
    return app.Table(  # type: ignore[return-value]
        USER_STATE_TABLE,
        default=None,
        partitions=partitions,
        key_type=bytes,
        value_type=bytes,
        options={"write_buffer_size": write_buffer_mb * 2**20},
        help="Per-user interaction history, seen items and dedup window.",
    )


class TableStateStore:
    """Adapts a Faust table of raw bytes to :class:`ranker.service.UserStateStore`."""

    def __init__(self, table: faust.Table) -> None:  # type: ignore[type-arg]
        self._table = table

    def get(self, user_id: str) -> bytes | None:
        """Stored state bytes, or None."""
        return self._table.get(user_id.encode())  # type: ignore[no-any-return]

    def put(self, user_id: str, state: bytes) -> None:
        """Store state bytes (the table writes its changelog)."""
        self._table[user_id.encode()] = state

    def delete(self, user_id: str) -> None:
        """Forget the user, locally and in the changelog."""
        self._table.pop(user_id.encode(), None)


@contextmanager
def writes_for(event: EventT) -> Iterator[None]:
    """Table reads and writes inside go to ``event``'s partition (store and changelog).

    Faust picks a key's partition (its RocksDB file and changelog partition)
    from the event being iterated, a context variable set only while
    ``stream.events()`` yields; code handed a batch by ``take_events`` has
    none, and Faust refuses the write ("Cannot modify table key from outside
    of stream iteration", faust-streaming issues #300 and #497). Setting it
    to the user's own event keeps table and changelog on the event's
    partition, as a per-event write would. (A private Faust name, pinned by
    the lock; tests/streams exercises it.)
    """
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)
