"""WebSockets not authenticated yet, counted per client address.

An unauthenticated socket costs a slot of WS_MAX_CONNECTIONS for up to WS_AUTH_TIMEOUT, and
opening one needs no account: without a bound per address, a few dozen idle sockets from one
place, reopened as they time out, would keep a node full. A socket counts from its upgrade until
its first successful AUTHENTICATE or its end, so authenticated connections (the 10,000 of a busy
node) never count, and the cost is one dict update at each end.
"""

from __future__ import annotations


class PendingSockets:
    def __init__(self, per_address: int) -> None:
        self.per_address = per_address
        self._by_address: dict[str, int] = {}

    def try_admit(self, address: str) -> bool:
        """Count one more pending socket from `address`, unless it already has its allowance."""
        count = self._by_address.get(address, 0)
        if count >= self.per_address:
            return False
        self._by_address[address] = count + 1
        return True

    def release(self, address: str) -> None:
        count = self._by_address.get(address, 0)
        if count <= 1:
            self._by_address.pop(address, None)
        else:
            self._by_address[address] = count - 1

    def total(self) -> int:
        return sum(self._by_address.values())

    def addresses(self) -> int:
        return len(self._by_address)
