"""Generate a key pair and write SELECTOR.private and SELECTOR.txt, as dkim-genkey does."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dkimtool.core import keys
from dkimtool.core.errors import CantCreateError
from dkimtool.core.fileio import ensure_directory, refuse_existing, write_atomic
from dkimtool.core.names import key_record_name
from dkimtool.core.record import KeyRecord, render_bind

PRIVATE_MODE = 0o600
RECORD_MODE = 0o644


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordSettings:
    """The record tags a user chooses (genkey and txt share them)."""

    testing: bool = False
    no_subdomains: bool = False
    restrict_email: bool = False
    hashes: tuple[str, ...] | None = None
    note: str | None = None
    fully_qualified: bool = False

    def record_for(self, key: keys.LoadedKey | None) -> KeyRecord:
        return KeyRecord.for_key(
            key,
            testing=self.testing,
            no_subdomains=self.no_subdomains,
            restrict_email=self.restrict_email,
            hashes=self.hashes,
            note=self.note,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRequest:
    domain: str
    selector: str
    key_type: keys.KeyType = "rsa"
    bits: int = keys.RSA_RECOMMENDED_BITS
    directory: Path = Path(".")
    key_format: keys.KeyFormat | None = None
    record: RecordSettings = field(default_factory=RecordSettings)
    owner: tuple[int, int] | None = None  # uid, gid for the private key
    force: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class GeneratedKey:
    domain: str
    selector: str
    algorithm: keys.KeyType
    bits: int
    private_key: Path
    txt: Path
    name: str
    value: str
    zone_record: str
    warnings: list[str]


def generate_key_files(request: KeyRequest) -> GeneratedKey:
    """Make a key pair, write both files atomically (the private key 0600 from creation)."""
    warnings = keys.check_rsa_bits(request.bits) if request.key_type == "rsa" else []
    key_format = request.key_format or keys.default_key_format(request.key_type)
    # Selectors are validated DNS names: no '/', no empty label, so the files stay in DIR.
    private_path = request.directory / f"{request.selector}.private"
    txt_path = request.directory / f"{request.selector}.txt"
    ensure_directory(request.directory)
    if not request.force:
        refuse_existing([private_path, txt_path])
    for target in (private_path, txt_path):
        # Found before anything is replaced: with --force, failing on the second file after
        # replacing the first would leave neither the old key nor a new one.
        if target.is_dir() and not target.is_symlink():
            raise CantCreateError(f"{target}: is a directory")
    _check_writable(request.directory)

    key = keys.generate(request.key_type, request.bits)
    assert key.private is not None
    private_pem = keys.serialize_private(key.private, key_format)
    record = request.record.record_for(key)
    zone_record = render_bind(
        record,
        selector=request.selector,
        domain=request.domain,
        fully_qualified=request.record.fully_qualified,
    )
    write_atomic(
        private_path, private_pem, mode=PRIVATE_MODE, force=request.force, owner=request.owner
    )
    try:
        write_atomic(txt_path, zone_record.encode("utf-8"), mode=RECORD_MODE, force=request.force)
    except BaseException:
        os.unlink(private_path)  # all or nothing: never leave a key without its record
        raise
    return GeneratedKey(
        domain=request.domain,
        selector=request.selector,
        algorithm=request.key_type,
        bits=key.bits,
        private_key=private_path,
        txt=txt_path,
        name=key_record_name(request.selector, request.domain),
        value=record.to_text(),
        zone_record=zone_record,
        warnings=warnings,
    )


def _check_writable(directory: Path) -> None:
    if not os.access(directory, os.W_OK | os.X_OK):
        raise CantCreateError(f"{directory}: directory is not writable")
