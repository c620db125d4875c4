"""Groups: named sets of clients (rooms, channels, teams) that one call can reach.

Which groups a client is in is the client's own state (``client.groups``,
saved by ``snapshot()`` and put back by ``restore()``). The
:class:`GroupIndex` here is the service's reverse lookup, from a name to the
clients in it, so ``service.write_to("ooc", ...)`` costs one pass over the
members instead of one over every client. The service keeps the two in step:
it enrols a client when it lists it (new or carried) and drops it when it
goes, and :meth:`Client.join` / :meth:`Client.leave` update the index of a
listed client. A group with no members is not kept.

Imports nothing of hubbub at run time (``client.py`` uses it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import Client

__all__ = ["GroupIndex", "check_group_name"]


def check_group_name(name: Any) -> str:
    """``name`` if it can name a group (a non-empty str); TypeError or ValueError if not.

    Names are compared exactly: ``"OOC"`` and ``"ooc"`` are two groups. An
    application that takes names from users should normalise and bound them.
    """
    if not isinstance(name, str):
        raise TypeError(f"a group name must be a str, not {type(name).__name__}")
    if not name:
        raise ValueError("a group name cannot be empty")
    return name if type(name) is str else str(name)  # a str subclass: keep plain text


class GroupIndex:
    """The service's view of its groups: ``service.groups``.

    Iterate it for the names of groups that have members; ``len()`` counts
    them; ``"ooc" in service.groups`` asks whether one has members;
    :meth:`members` lists one group's clients in the order they joined.
    Change membership with ``client.join()`` / ``client.leave()``.
    """

    __slots__ = ("_members",)

    def __init__(self) -> None:
        # name -> its clients, in joining order (a dict used as an ordered set).
        self._members: dict[str, dict[Client, None]] = {}

    # --- reading ------------------------------------------------------------

    def members(self, group: str) -> tuple[Client, ...]:
        """The connected clients in ``group``, in the order they joined (empty if none)."""
        members = self._members.get(check_group_name(group))
        return tuple(members) if members else ()

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._members))

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, group: object) -> bool:
        return group in self._members

    def __repr__(self) -> str:
        return f"<GroupIndex of {len(self._members)} group(s)>"

    # --- what clients and the service call -----------------------------------

    def add(self, client: Client, group: str) -> None:
        """Record that ``client`` is in ``group`` (called by ``client.join``)."""
        members = self._members.get(group)
        if members is None:
            members = self._members[group] = {}
        members[client] = None

    def discard(self, client: Client, group: str) -> None:
        """Record that ``client`` left ``group``; a group left empty is forgotten."""
        members = self._members.get(group)
        if members is not None:
            members.pop(client, None)
            if not members:
                del self._members[group]

    def enrol(self, client: Client) -> None:
        """The service lists ``client``: index the groups it is in (a carried client's)."""
        client.group_index = self
        for group in client.groups:
            self.add(client, group)

    def drop(self, client: Client) -> None:
        """The service no longer lists ``client``: take it out of every group here.

        ``client.groups`` keeps the names, so a ``Disconnect`` handler can
        still tell the rooms it was in that it left.
        """
        if client.group_index is self:
            client.group_index = None
            for group in client.groups:
                self.discard(client, group)
