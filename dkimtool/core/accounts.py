"""User accounts named on the command line or in a config file (``--owner``, ``Userid``)."""

from __future__ import annotations

import grp
import pwd
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    uid: int
    gid: int


def lookup_account(spec: str) -> Account:
    """``USER[:GROUP]``, by name or number; the group defaults to the user's own.

    Raises LookupError naming what does not exist.
    """
    user, _, group = spec.partition(":")
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except KeyError:
        raise LookupError(f"no such user {user!r}") from None
    gid = entry.pw_gid
    if group:
        try:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        except KeyError:
            raise LookupError(f"no such group {group!r}") from None
    return Account(entry.pw_name, entry.pw_uid, gid)
