"""Options shared by several commands, defined once."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar, cast

import click

from dkimtool.core.names import InvalidName, normalize_domain, normalize_selector

F = TypeVar("F", bound=Callable[..., Any])
_META_VERBOSE = "dkimtool.verbose"
_META_QUIET = "dkimtool.quiet"


def _count_verbose(ctx: click.Context, _param: click.Parameter, value: int) -> None:
    meta = ctx.find_root().meta
    meta[_META_VERBOSE] = meta.get(_META_VERBOSE, 0) + (value or 0)


def _set_quiet(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.find_root().meta[_META_QUIET] = True


def verbosity_options(func: F) -> F:
    """-v/--verbose and -q/--quiet, accepted before or after the subcommand."""
    func = click.option(
        "-q",
        "--quiet",
        is_flag=True,
        expose_value=False,
        callback=_set_quiet,
        help="Print only errors (and the payload).",
    )(func)
    func = click.option(
        "-v",
        "--verbose",
        count=True,
        expose_value=False,
        callback=_count_verbose,
        help="More detail on stderr; -vv also shows tracebacks of internal errors.",
    )(func)
    return func


def verbosity(ctx: click.Context) -> int:
    """-1 when quiet, else the number of -v given anywhere on the command line."""
    meta = ctx.find_root().meta
    if meta.get(_META_QUIET):
        return -1
    count: int = meta.get(_META_VERBOSE, 0)
    return count


def current_verbosity() -> int:
    return verbosity(click.get_current_context())


def _convert(value: str | None, normalize: Callable[[str], str]) -> str | None:
    if value is None:
        return None
    try:
        return normalize(value)
    except InvalidName as exc:
        raise click.BadParameter(str(exc)) from None


def _domain_callback(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_convert(v, normalize_domain) for v in value)
    return _convert(value, normalize_domain)


def _selector_callback(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_convert(v, normalize_selector) for v in value)
    return _convert(value, normalize_selector)


def domain_option(help_text: str = "The signing domain (d=).", **kwargs: Any) -> Callable[[F], F]:
    return click.option("-d", "--domain", callback=_domain_callback, help=help_text, **kwargs)


def selector_option(help_text: str = "The selector (s=).", **kwargs: Any) -> Callable[[F], F]:
    return click.option("-s", "--selector", callback=_selector_callback, help=help_text, **kwargs)


def config_option(help_text: str) -> Callable[[F], F]:
    return click.option(
        "-x", "--config", "config_path", type=click.Path(dir_okay=False), help=help_text
    )


def jobs_option(when: str) -> Callable[[F], F]:
    """-j/--jobs N for batches; WHEN says which batches (e.g. "With -o")."""
    return click.option(
        "-j",
        "--jobs",
        type=click.IntRange(min=0),
        default=1,
        metavar="N",
        help=f"{when}: work in N worker processes; 0: one per CPU. [default: 1]",
    )


def json_option(help_text: str = "Print a JSON object instead of text.") -> Callable[[F], F]:
    return click.option("--json", "as_json", is_flag=True, help=help_text)


def record_options(func: F) -> F:
    """The key-record options genkey and txt share, passed on as one ``record_settings``."""

    @functools.wraps(func)
    def wrapper(
        *args: Any,
        testmode: bool,
        no_subdomains: bool,
        restrict: bool,
        hash_algorithms: str | None,
        note: str | None,
        append_domain: bool,
        **kwargs: Any,
    ) -> Any:
        from dkimtool.core.genkey import RecordSettings
        from dkimtool.core.record import parse_hash_list

        kwargs["record_settings"] = RecordSettings(
            testing=testmode,
            no_subdomains=no_subdomains,
            restrict_email=restrict,
            hashes=None if hash_algorithms is None else parse_hash_list(hash_algorithms),
            note=note,
            fully_qualified=append_domain,
        )
        return func(*args, **kwargs)

    decorators = [
        click.option("-t", "--testmode", is_flag=True, help="Testing mode: add t=y."),
        click.option(
            "-S",
            "--no-subdomains",
            is_flag=True,
            help="Forbid subdomains in i=: add t=s (with -t: t=y:s).",
        ),
        click.option("-r", "--restrict", is_flag=True, help="Use the key for email only: s=email."),
        click.option(
            "-h",
            "--hash-algorithms",
            metavar="LIST",
            help="h=: allowed hashes, colon-separated: sha256, sha1 or sha1:sha256.",
        ),
        click.option(
            "-n",
            "--note",
            metavar="TEXT",
            help="n=: a note for humans (dkim-quoted-printable encoded).",
        ),
        click.option(
            "--append-domain",
            is_flag=True,
            help="Write the owner name fully qualified: SELECTOR._domainkey.DOMAIN.",
        ),
    ]
    decorated: Callable[..., Any] = wrapper
    for decorator in reversed(decorators):
        decorated = decorator(decorated)
    return cast(F, decorated)


class _InputFile(click.Path):
    """A FILE (or ``-``) to read: completed like a path, but not checked here.

    click.Path would stat and access() every file before the command starts: two system
    calls per file of a batch, and a usage error (2) for an unreadable file where the
    contract says 66. The file is checked when it is read, with one error line for it.
    """

    def __init__(self) -> None:
        super().__init__(dir_okay=False, allow_dash=True)

    def convert(
        self,
        value: str | os.PathLike[str],
        param: click.Parameter | None,
        ctx: click.Context | None,
    ) -> str:
        return os.fspath(value)


def input_files_argument(func: F) -> F:
    """FILES...: the messages to read (standard input when there are none)."""
    return click.argument("files", nargs=-1, type=_InputFile())(func)
