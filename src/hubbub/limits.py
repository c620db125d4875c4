"""The built-in limits: who may connect, how many at once, how often; and the token bucket.

:class:`AddressLimits` applies the address rules of the settings (``allow``,
``deny``, ``max_connections_per_ip``, ``connection_rate`` /
``connection_burst``) and keeps the per-address state they need in a table
that is bounded in memory. :class:`TokenBucket` is the rate limiter shared by
the connection rate and the per-client line rate (``transports/base.py``).

Addresses are counted per IP; an IPv6 address counts as its /64 (one host
usually has a whole /64, so counting single IPv6 addresses would count
nothing). IPv4-mapped IPv6 addresses count as the IPv4 address they carry.
A peer whose address is not an IP (a UNIX socket) is not limited here.
"""

from __future__ import annotations

import ipaddress
import time
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from .settings import Settings

__all__ = [
    "DENIED",
    "MAX_TRACKED",
    "TOO_FAST",
    "TOO_MANY",
    "AddressLimits",
    "TokenBucket",
    "address_key",
]

DENIED: Final = "Sorry, connections from your address are not accepted."
TOO_FAST: Final = "Sorry, your address is connecting too often; please wait a moment and try again."
TOO_MANY: Final = "Sorry, there are too many connections from your address (at most {limit})."

#: Most addresses whose connection rate is remembered; past it the longest
#: known idle ones are forgotten (those with open connections never are).
MAX_TRACKED: Final = 65_536

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up.

    ``held`` arguments are tokens the caller took earlier and has not spent
    yet: they count toward ``burst``, so taking ahead never adds to it.
    """

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int, now: float, tokens: float | None = None) -> None:
        self.rate = float(rate)
        self.burst = burst
        self.tokens = float(burst) if tokens is None else tokens
        self.stamp = now

    def refill(self, now: float, held: int = 0) -> None:
        self.tokens = min(float(self.burst - held), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, most: int, now: float, held: int = 0) -> int:
        """Take up to ``most`` whole tokens; how many were taken."""
        self.refill(now, held)
        taken = max(0, min(most, int(self.tokens)))
        self.tokens -= taken
        return taken

    def wait(self, want: float, now: float, held: int = 0) -> float:
        """Seconds until ``want`` tokens are there."""
        self.refill(now, held)
        return max(0.0, (min(want, self.burst - held) - self.tokens) / self.rate)

    def full(self, now: float) -> bool:
        """True once the bucket has filled up again (nothing to remember)."""
        return self.tokens + (now - self.stamp) * self.rate >= self.burst


def parse_ip(host: Any) -> IPAddress | None:
    """``host`` as an IP address (IPv4-mapped IPv6 as IPv4), or None if it is not one."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def address_key(ip: IPAddress) -> str:
    """What one address counts as: the IPv4 address, or the IPv6 /64 around it."""
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ip)
    return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))


class _Peer:
    __slots__ = ("bucket", "connections")

    def __init__(self, bucket: TokenBucket | None) -> None:
        self.bucket = bucket
        self.connections = 0


class AddressLimits:
    """The address rules of one service, and the state they keep per address."""

    def __init__(self, settings: Settings) -> None:
        self.allow: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n) for n in settings.allow)
        self.deny: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n) for n in settings.deny)
        self.per_ip: int = settings.max_connections_per_ip
        self.rate: float = float(settings.connection_rate)
        self.burst: int = settings.connection_burst
        self._peers: dict[str, _Peer] = {}
        self._prune_at = 1024

    @property
    def tracked(self) -> int:
        """Addresses remembered now (bounded by :data:`MAX_TRACKED` plus those connected)."""
        return len(self._peers)

    def screen(self, address: tuple[Any, ...]) -> tuple[str, str] | None:
        """A new connection from ``address``: None, or (rule, reason) to refuse it.

        Counts toward the address's connection rate (refused attempts too,
        so a peer that keeps trying stays refused).
        """
        ip = parse_ip(address[0]) if address else None
        if ip is None:
            return None
        if self.deny and any(ip in network for network in self.deny):
            return "deny", DENIED
        if self.allow and not any(ip in network for network in self.allow):
            return "allow", DENIED
        if not self.rate and not self.per_ip:
            return None
        key = address_key(ip)
        peer = self._peers.get(key)
        if self.rate:
            now = time.monotonic()
            if peer is None:
                peer = self._remember(key, now)
            assert peer.bucket is not None
            if not peer.bucket.take(1, now):
                return "rate", TOO_FAST
        if self.per_ip and peer is not None and peer.connections >= self.per_ip:
            return "per_ip", TOO_MANY.format(limit=self.per_ip)
        return None

    def join(self, address: tuple[Any, ...], check: bool = True) -> str | None:
        """A client from ``address`` is about to be let in: count it, or say why not."""
        if not self.per_ip and not self.rate:
            return None
        ip = parse_ip(address[0]) if address else None
        if ip is None:
            return None
        key = address_key(ip)
        peer = self._peers.get(key) or self._remember(key, time.monotonic())
        if check and self.per_ip and peer.connections >= self.per_ip:
            return TOO_MANY.format(limit=self.per_ip)
        peer.connections += 1
        return None

    def leave(self, address: tuple[Any, ...]) -> None:
        """A client counted by :meth:`join` is gone."""
        ip = parse_ip(address[0]) if address else None
        if ip is None:
            return
        key = address_key(ip)
        peer = self._peers.get(key)
        if peer is None or not peer.connections:
            return
        peer.connections -= 1
        if not peer.connections and (peer.bucket is None or peer.bucket.full(time.monotonic())):
            del self._peers[key]

    def _remember(self, key: str, now: float) -> _Peer:
        if len(self._peers) >= self._prune_at:
            self._prune(now)
        bucket = TokenBucket(self.rate, self.burst, now) if self.rate else None
        peer = self._peers[key] = _Peer(bucket)
        return peer

    def _prune(self, now: float) -> None:
        """Forget addresses with nothing to remember; past the bound, the oldest idle ones."""
        peers = self._peers
        for key in [
            key
            for key, peer in peers.items()
            if not peer.connections and (peer.bucket is None or peer.bucket.full(now))
        ]:
            del peers[key]
        if len(peers) >= MAX_TRACKED:
            excess = len(peers) - MAX_TRACKED // 2
            for key in [key for key, peer in peers.items() if not peer.connections][:excess]:
                del peers[key]
        # Sweep again when the table has doubled (or grown by 1024 past the
        # bound, all connected): amortised O(1) per new address.
        self._prune_at = max(1024, min(MAX_TRACKED, 2 * len(peers)), len(peers) + 1024)
