"""The ``dkimtool`` command group: global options, lazy subcommands, and the one place that
turns exceptions into exit codes (sysexits(3), see ``dkimtool.core.errors``).

Only click is imported at start-up; each subcommand's module is imported when it runs, so a
CLI run once per message does not pay for the others (dnspython in particular).
"""

from __future__ import annotations

import gc


class _LoadingModules:
    """Importing creates tens of thousands of long-lived objects (functions, classes,
    constants), and the collector would scan them for nothing: about 4 ms of a 50 ms run. So
    collection is off while modules load (below, and in get_command), and what they made is
    then frozen, out of the collector's sight; it is back on before a command runs. (A class,
    not contextlib: that import would come before the pause.)"""

    def __enter__(self) -> None:
        self.enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *_exc: object) -> None:
        gc.freeze()
        if self.enabled:
            gc.enable()


with _LoadingModules():
    import contextlib
    import importlib
    import os
    import re
    import sys
    from typing import Any

    import click

    from dkimtool import __version__
    from dkimtool.commands import _options, _render
    from dkimtool.commands._render import error_line
    from dkimtool.core.errors import EX_SOFTWARE, EX_TEMPFAIL, DkimtoolError


COMMANDS = {
    "genkey": "dkimtool.commands.genkey",
    "txt": "dkimtool.commands.txt",
    "testkey": "dkimtool.commands.testkey",
    "sign": "dkimtool.commands.sign",
    "verify": "dkimtool.commands.verify",
    "milter": "dkimtool.commands.milter",
}
CONTEXT_SETTINGS = {"help_option_names": ["--help"], "max_content_width": 100}


def _report(ctx: click.Context, exc: BaseException) -> None:
    ctx.exit(_report_exception(exc, _options.verbosity(ctx)))


def _report_exception(exc: BaseException, verbosity: int) -> int:
    """Print the one error line (and the traceback at -vv); return the exit code."""
    if verbosity >= 2:
        import traceback  # only for -vv: not on every run's start-up

        traceback.print_exception(exc)
    if isinstance(exc, DkimtoolError):
        error_line(str(exc))
        return exc.exit_code
    detail = "" if verbosity >= 2 else " (run with -vv for details)"
    error_line(f"internal error: {type(exc).__name__}: {exc}{detail}")
    return EX_SOFTWARE


def _argv_verbosity(args: list[str]) -> int:
    """-v count from raw arguments, for errors raised before a context exists."""
    words = args[: args.index("--")] if "--" in args else args
    if any(word in ("-q", "--quiet") for word in words):
        return -1
    return sum(
        1 if word == "--verbose" else len(word) - 1
        for word in words
        if word == "--verbose" or re.fullmatch(r"-v+", word)
    )


def _output_closed(ctx: click.Context) -> None:
    """The reader of stdout went away (``| head``, a dead MTA pipe): what was to be written is
    lost, so exit 75 (an MTA retries) with one line, and never a traceback at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # Python's final flush must not fail again
    os.close(devnull)
    with contextlib.suppress(OSError):
        error_line("standard output was closed before everything was written")
    ctx.exit(EX_TEMPFAIL)


class DkimtoolGroup(click.Group):
    """A group that loads subcommands lazily and maps errors to exit codes."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = COMMANDS.get(cmd_name)
        if module_name is None:
            return None
        if module_name in sys.modules:
            command: click.Command = sys.modules[module_name].command
            return command
        with _LoadingModules():
            command = importlib.import_module(module_name).command
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            try:
                return super().invoke(ctx)
            finally:
                # Report lines are buffered (_render.report_line): a closed pipe shows here,
                # where it is handled, not at interpreter exit.
                with contextlib.suppress(ValueError):  # already closed
                    sys.stdout.flush()
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:
            _output_closed(ctx)
        except Exception as exc:  # noqa: BLE001 - the one catch site for internal errors
            _report(ctx, exc)

    def main(  # type: ignore[override]
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Like click's, but usage errors are one ``dkimtool: error:`` line too."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            error_line(exc.format_message() + hint)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            error_line(exc.format_message())
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            error_line("interrupted")
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - raised outside invoke: --help, callbacks
            argv = sys.argv[1:] if args is None else list(args)
            sys.exit(_report_exception(exc, _argv_verbosity(argv)))
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=DkimtoolGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(
    __version__, "--version", prog_name="dkimtool", message="%(prog)s %(version)s"
)
@_options.verbosity_options
def cli() -> None:
    """DKIM toolkit: keys, DNS records, key checks, signing and verification.

    \b
    Set up a domain in four steps:
      dkimtool genkey -d example.com -s mail        # mail.private + mail.txt
      (publish mail.txt in the example.com zone)
      dkimtool testkey -d example.com -s mail -k mail.private
      dkimtool sign -d example.com -s mail -k mail.private < msg.eml | dkimtool verify

    Exit codes follow sysexits(3): 0 success, 1 negative answer, 2 usage, 65 bad data,
    66 no input, 70 internal error, 73 cannot create, 75 temporary failure, 78 bad config.
    """


def main(argv: list[str] | None = None) -> None:
    _render.use_buffered_stdout()
    cli.main(args=argv, prog_name="dkimtool")
