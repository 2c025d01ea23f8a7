"""The exception tree of dkimtool.

Core code raises these; only ``dkimtool.cli`` turns them into exit codes (sysexits(3)).
Each error carries one human-readable line; ``hint`` adds what to do about it.
"""

from __future__ import annotations

# sysexits(3) values, named once.
EX_OK = 0
EX_NEGATIVE = 1
EX_USAGE = 2
EX_DATAERR = 65
EX_NOINPUT = 66
EX_SOFTWARE = 70
EX_CANTCREAT = 73
EX_TEMPFAIL = 75
EX_CONFIG = 78


class DkimtoolError(Exception):
    """Base of every error dkimtool reports to a user."""

    exit_code = EX_SOFTWARE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(DkimtoolError):
    """An option value that can never work (exit 2), found after click's own parsing."""

    exit_code = EX_USAGE


class InputError(DkimtoolError):
    """Malformed input data: a message, key file contents, a record, a zone file (65)."""

    exit_code = EX_DATAERR


class MessageFormatError(InputError):
    pass


class KeyFormatError(InputError):
    pass


class RecordFormatError(InputError):
    pass


class SigningError(InputError):
    """The message cannot be signed as asked (no From header, key/algorithm mismatch)."""


class NoInputError(DkimtoolError):
    """An input file does not exist or cannot be read, or a key file is unsafe (66)."""

    exit_code = EX_NOINPUT


class CantCreateError(DkimtoolError):
    """An output exists (without --force) or cannot be created (73)."""

    exit_code = EX_CANTCREAT


class TempFailError(DkimtoolError):
    """A temporary failure: retrying later may succeed (75)."""

    exit_code = EX_TEMPFAIL


class ConfigError(DkimtoolError):
    """The configuration file is invalid (78)."""

    exit_code = EX_CONFIG

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        where = path if line is None else f"{path}:{line}"
        super().__init__(f"{where}: {message}" if where else message)
        self.path = path
        self.line = line


class NegativeResult(DkimtoolError):
    """A definitive negative answer (exit 1): not pass, no usable key, key mismatch."""

    exit_code = EX_NEGATIVE


class DnsTempError(TempFailError):
    """A DNS lookup timed out or the server failed (SERVFAIL): a temperror, never a fail."""


class DnsNotFound(NegativeResult):
    """The name does not exist (NXDOMAIN) or has no TXT record: a permanent answer."""
