"""The RFC 8601 result words of the ``dkim`` method."""

from __future__ import annotations

from enum import StrEnum


class AuthResult(StrEnum):
    """One word per signature (RFC 8601 section 2.7.1), and one for the whole message."""

    NONE = "none"
    PASS = "pass"
    FAIL = "fail"
    POLICY = "policy"
    NEUTRAL = "neutral"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"
