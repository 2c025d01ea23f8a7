"""dkimpy's library over a whole batch in one Python process: the reference for run.py.

    python benchmarks/dkimpy_batch.py sign LIST OUTDIR SELECTOR DOMAIN KEYFILE ALGORITHM
    python benchmarks/dkimpy_batch.py verify LIST ZONEFILE

LIST names one message per line. ``sign`` reads each message, calls ``dkim.sign`` (relaxed/
relaxed) and writes the signed message to OUTDIR/BASENAME, as ``dkimtool sign -o`` does.
``verify`` calls ``dkim.verify`` with the keys of ZONEFILE (no DNS) and prints how many passed.
Kept apart from run.py so that its timing includes dkimpy's own start-up, as dkimtool's does.
"""

from __future__ import annotations

import os
import re
import sys

import dkim


def _read_list(path: str) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return [line.rstrip("\n") for line in handle if line.strip()]


def sign(list_file: str, out_dir: str, selector: str, domain: str, key_file: str, alg: str) -> int:
    with open(key_file, "rb") as handle:
        key = handle.read()
    for path in _read_list(list_file):
        with open(path, "rb") as handle:
            message = handle.read()
        field = dkim.sign(
            message,
            selector.encode(),
            domain.encode(),
            key,
            canonicalize=(b"relaxed", b"relaxed"),
            signature_algorithm=alg.encode(),
            linesep=b"\n",
        )
        with open(os.path.join(out_dir, os.path.basename(path)), "wb") as handle:
            handle.write(field + message)
    return 0


def _zone_records(zone_file: str) -> dict[bytes, bytes]:
    """SELECTOR._domainkey -> record, from genkey's .txt files (one record per entry)."""
    with open(zone_file, "rb") as handle:
        text = handle.read()
    records: dict[bytes, bytes] = {}
    for entry in re.split(rb"\n(?=\S)", text):
        if entry.strip():
            owner = entry.split()[0].lower()
            records[owner] = b"".join(re.findall(rb'"([^"]*)"', entry))
    return records


def verify(list_file: str, zone_file: str) -> int:
    records = _zone_records(zone_file)

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return records.get(name.lower().split(b"._domainkey.")[0] + b"._domainkey")

    passed = 0
    paths = _read_list(list_file)
    for path in paths:
        with open(path, "rb") as handle:
            passed += bool(dkim.verify(handle.read(), dnsfunc=dnsfunc))
    print(f"{passed}/{len(paths)} passed")
    return 0 if passed == len(paths) else 1


def main(argv: list[str]) -> int:
    if argv[:1] == ["sign"] and len(argv) == 7:
        return sign(*argv[1:])
    if argv[:1] == ["verify"] and len(argv) == 3:
        return verify(*argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
