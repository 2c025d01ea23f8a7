"""Shared fixtures: a CLI runner with stdout and stderr apart, and pre-generated keys."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, Protocol

import hypothesis
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from dkimtool.cli import cli
from dkimtool.core import keys

# No per-example time limits: CI machines are shared and noisy; speed lives in benchmarks/.
hypothesis.settings.register_profile("dkimtool", deadline=None)
hypothesis.settings.load_profile("dkimtool")


class CliResult(NamedTuple):
    code: int
    stdout: str
    stderr: str


class RunCli(Protocol):
    def __call__(self, *args: str, input: bytes | str | None = None) -> CliResult: ...


@pytest.fixture
def run_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunCli:
    """Run ``dkimtool ARGS`` in-process, in ``tmp_path``; unexpected exceptions propagate."""
    monkeypatch.chdir(tmp_path)

    def run(*args: str, input: bytes | str | None = None) -> CliResult:
        result = CliRunner().invoke(cli, list(args), input=input, prog_name="dkimtool")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return run


def assert_error(result: CliResult, code: int, *fragments: str) -> str:
    """The contract's error shape: exit CODE, one stderr line ``dkimtool: error: ...``,
    no traceback, nothing on stdout. Returns the line."""
    assert result.code == code, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dkimtool: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0]
    assert result.stdout == ""
    return lines[0]


@functools.cache
def pooled_rsa_key(bits: int) -> rsa.RSAPrivateKey:
    """One RSA key per size for the whole run (4096 is made at most once, and only if asked)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@pytest.fixture(scope="session")
def ed25519_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


KeyGenerator = Callable[[keys.KeyType, int], keys.LoadedKey]


def pooled_generator(sizes: frozenset[int] | None = None) -> KeyGenerator:
    """A stand-in for ``keys.generate`` that serves RSA keys of SIZES (all if None) from the
    pool, keeping the size checks; anything else is generated for real."""
    real = keys.generate

    def generate(key_type: keys.KeyType, bits: int = keys.RSA_RECOMMENDED_BITS) -> keys.LoadedKey:
        if key_type == "rsa" and (sizes is None or bits in sizes):
            keys.check_rsa_bits(bits)
            private = pooled_rsa_key(bits)
            return keys.LoadedKey(public=private.public_key(), private=private)
        return real(key_type, bits)

    return generate


@pytest.fixture
def fast_keygen(monkeypatch: pytest.MonkeyPatch) -> None:
    """genkey hands out pooled RSA keys instead of generating new ones (speed only)."""
    monkeypatch.setattr(keys, "generate", pooled_generator())


_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def zone_strings(zone_record: str) -> list[str]:
    """The character-strings of a one-record zone text like genkey's .txt, unescaped."""
    return [re.sub(r"\\(.)", r"\1", chunk) for chunk in _QUOTED.findall(zone_record)]
