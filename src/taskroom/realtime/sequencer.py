"""Putting one room's events in `seq` order, whatever order the broker hands them over in.

Pure bookkeeping (no I/O): the hub asks it what may be delivered now and which range of the
log is missing, and reads that range from the database itself.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class RoomSequencer(Generic[T]):
    """Delivers each seq once, in order: duplicates are dropped, early events held for the gap.

    Until `start(seq)` is called (the room's position in the log is being read) everything is
    held; events at or below the starting seq are then dropped as already covered by the log.
    """

    def __init__(self, max_held: int = 10_000) -> None:
        self.last_seq: int | None = None
        self._held: dict[int, T] = {}
        self._max_held = max_held

    @property
    def started(self) -> bool:
        return self.last_seq is not None

    def start(self, seq: int) -> list[tuple[int, T]]:
        self.last_seq = seq
        for old in [s for s in self._held if s <= seq]:
            del self._held[old]
        return self._release()

    def offer(self, seq: int, item: T) -> list[tuple[int, T]]:
        """What may go out now, in order (possibly empty: held, or a duplicate)."""
        if self.last_seq is not None and seq <= self.last_seq:
            return []
        # The next seq in order is always taken, bound or not: it releases at least itself, so a
        # full buffer can never stall delivery (or the gap fill that offers the missing seqs).
        next_in_order = self.last_seq is not None and seq == self.last_seq + 1
        if len(self._held) < self._max_held or seq in self._held or next_in_order:
            self._held[seq] = item
        return self._release() if self.last_seq is not None else []

    def missing(self) -> tuple[int, int] | None:
        """(after, upto): the seqs after < s <= upto that hold up delivery, or None."""
        if self.last_seq is None or not self._held:
            return None
        return self.last_seq, min(self._held) - 1

    def skip_to(self, seq: int) -> list[tuple[int, T]]:
        """Give up on what is missing up to `seq` (it is gone from the log) and move on."""
        assert self.last_seq is not None
        return self.start(max(self.last_seq, seq))

    def _release(self) -> list[tuple[int, T]]:
        assert self.last_seq is not None
        out: list[tuple[int, T]] = []
        while (self.last_seq + 1) in self._held:
            self.last_seq += 1
            out.append((self.last_seq, self._held.pop(self.last_seq)))
        return out
