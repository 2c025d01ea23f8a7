"""Choose and load the keys for ``sign``: pair selectors with key files and algorithms."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, get_args

from dkimtool.core import signature
from dkimtool.core.errors import KeyFormatError, UsageError
from dkimtool.core.keys import read_key
from dkimtool.core.signer import SHA1_WARNING, Algorithm, SigningKey

ALGORITHMS: tuple[Algorithm, ...] = get_args(Algorithm)  # preferred first


def _fitting(key_type: str) -> tuple[Algorithm, ...]:
    """The algorithms a KEY_TYPE key signs with, the default first."""
    return tuple(name for name in ALGORITHMS if signature.ALGORITHMS[name][0] == key_type)


class KeySpec(NamedTuple):
    selector: str
    path: str
    algorithm: Algorithm | None  # None: from the key type


def pair_key_specs(
    selectors: Sequence[str], paths: Sequence[str], algorithms: Sequence[Algorithm]
) -> list[KeySpec]:
    """The Nth -k pairs with the Nth -s; -a is given once or once per -k (else UsageError)."""
    if len(selectors) != len(paths):
        raise UsageError(
            f"{len(selectors)} selector(s) but {len(paths)} key(s)",
            hint="give one -s for each -k, in the same order",
        )
    if len(algorithms) not in (0, 1, len(paths)):
        raise UsageError("give -a once, or once for each -k")
    chosen: list[Algorithm | None] = (
        list(algorithms) if len(algorithms) == len(paths) else [None] * len(paths)
    )
    if len(algorithms) == 1:
        chosen = [algorithms[0]] * len(paths)
    return [KeySpec(s, p, a) for s, p, a in zip(selectors, paths, chosen, strict=True)]


def check_sha1(specs: Sequence[KeySpec], *, allow_sha1: bool) -> list[str]:
    if any(spec.algorithm == "rsa-sha1" for spec in specs):
        if not allow_sha1:
            raise UsageError("rsa-sha1 needs --allow-sha1", hint="RFC 8301: use rsa-sha256")
        return [SHA1_WARNING]
    return []


def load_signing_keys(specs: Sequence[KeySpec]) -> tuple[tuple[SigningKey, ...], list[str]]:
    """Read each private key (safety-checked on the open file) and fit its algorithm.

    RSA validation is skipped: the signer verifies every signature before it is written.
    """
    loaded: list[SigningKey] = []
    warnings: list[str] = []
    for spec in specs:
        key, key_warnings = read_key(spec.path, safety_checks=True, skip_rsa_validation=True)
        warnings.extend(key_warnings)
        if key.private is None:
            raise KeyFormatError(f"{spec.path}: is a public key; signing needs the private key")
        fits = _fitting(key.key_type)
        algorithm = spec.algorithm or fits[0]
        if algorithm not in fits:
            raise UsageError(
                f"-a {algorithm} does not fit {spec.path}, a {key.key_type} key",
                hint=f"use -a {fits[0]}",
            )
        loaded.append(SigningKey(selector=spec.selector, key=key, algorithm=algorithm))
    return tuple(loaded), warnings
