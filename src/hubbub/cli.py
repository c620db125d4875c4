"""The ``hubbub`` command: ``hubbub run PATH_OR_MODULE[:attr] [options]`` and
``hubbub restart --pid-file F``.

Every expected failure (a missing file or attribute, a bad setting or URL, a
port in use) is one line on stderr and a non-zero exit status; tracebacks
are kept for bugs in the application's own code.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from . import __version__
from .errors import SettingsError
from .restart import reload
from .restart.process import command, read_pid_file, report_failure
from .restart.supervised import SUPERVISOR_ENV
from .service import Service, loading_app

__all__ = ["load_service", "main"]


class AppError(Exception):
    """The target named on the command line cannot be loaded."""


def _split_target(target: str) -> tuple[str, str]:
    head, sep, attr = target.rpartition(":")
    # "C:\\app.py" or "app.py" has no attribute part.
    if sep and attr.isidentifier() and len(head) > 1:
        return head, attr
    return target, "service"


def load_service(target: str) -> Service:
    """Import ``PATH_OR_MODULE[:attr]`` and return the Service it names."""
    return _load(target)[0]


def _load(target: str) -> tuple[Service, Path | None]:
    """The Service ``target`` names, and the directory its code is in (for --reload)."""
    where, attr = _split_target(target)
    if where.endswith(".py") or "/" in where or "\\" in where:
        path = Path(where)
        if not path.is_file():
            raise AppError(f"no such file: {where}")
        module_name = f"hubbub_app_{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise AppError(f"cannot import {where}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        sys.path.insert(0, str(path.resolve().parent))
        with loading_app(where):
            spec.loader.exec_module(module)
    else:
        # As with "python -m": modules of the project the command is run in.
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            with loading_app(where):
                module = importlib.import_module(where)
        except ModuleNotFoundError as exc:
            if exc.name and (where == exc.name or where.startswith(exc.name + ".")):
                raise AppError(f"no module named {where!r}") from None
            raise
    try:
        found: Any = getattr(module, attr)
    except AttributeError:
        raise AppError(f"{where} has no attribute {attr!r}") from None
    if not isinstance(found, Service):
        raise AppError(f"{where}:{attr} is not a hubbub.Service (it is {type(found).__name__!r})")
    source = getattr(module, "__file__", None)
    return found, Path(source).resolve().parent if source else None


def _parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    parser = argparse.ArgumentParser(
        prog="hubbub", description="Run hubbub services.", allow_abbrev=False
    )
    parser.add_argument("--version", action="version", version=f"hubbub {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run a service", allow_abbrev=False)
    run.add_argument(
        "target",
        metavar="PATH_OR_MODULE[:attr]",
        help="a .py file or importable module; attr defaults to 'service'",
    )
    run.add_argument(
        "--listen",
        action="append",
        metavar="URL",
        help="listen on URL (repeatable), e.g. telnet://0.0.0.0:4000 or tcp://[::1]:0",
    )
    run.add_argument("--config", metavar="FILE", help="TOML settings file")
    run.add_argument("--log-level", metavar="LEVEL", help="DEBUG, INFO, WARNING, ERROR")
    run.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), help="event loop")
    run.add_argument(
        "--pid-file", metavar="FILE", help="write the live process's pid to FILE (for restart)"
    )
    run.add_argument(
        "--reload",
        action="store_true",
        help="hot-restart when the app's .py or .toml files change (nobody is disconnected)",
    )
    run.add_argument(
        "--supervise",
        action="store_true",
        help="run under a supervisor that restarts a crashed worker with every client "
        "still connected, and terminates TLS (recommended in production)",
    )
    restart = commands.add_parser(
        "restart",
        help="hot-restart a running service: nobody is disconnected",
        allow_abbrev=False,
    )
    restart.add_argument("--pid-file", metavar="FILE", required=True, help="the service's pid file")
    restart.add_argument(
        "--timeout",
        type=float,
        default=40.0,
        metavar="SECONDS",
        help="how long to wait for the new process to take over (default 40)",
    )
    return parser, run


def restart_command(pid_file: str, timeout: float) -> int:
    """Send SIGHUP to the process ``pid_file`` names; wait until the restart is done.

    Without a supervisor the new process names itself in the file; a
    supervisor keeps its pid and writes the file anew once its next worker
    has taken over. Either way the file is replaced when the restart is done.
    """
    try:
        old = read_pid_file(pid_file)
        before = os.stat(pid_file).st_ino
    except (OSError, ValueError) as exc:
        print(f"hubbub: cannot read a pid from {pid_file}: {exc}", file=sys.stderr)
        return 2
    try:
        os.kill(old, signal.SIGHUP)
    except OSError as exc:
        print(f"hubbub: cannot signal process {old}: {exc.strerror}", file=sys.stderr)
        return 1
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.05)
        try:
            new = read_pid_file(pid_file)
            replaced = os.stat(pid_file).st_ino != before
        except (OSError, ValueError):
            continue  # being replaced
        if new != old:
            print(f"hubbub: restarted: process {new} took over from {old}")
            return 0
        if replaced:
            print(f"hubbub: restarted: the supervisor (process {old}) has a new worker")
            return 0
    print(
        f"hubbub: process {old} is still serving after {timeout:g}s; "
        "the restart failed (its log says why)",
        file=sys.stderr,
    )
    return 1


def main(argv: list[str] | None = None) -> int:
    parser, run = _parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "restart":
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return restart_command(args.pid_file, args.timeout)
    if extra:
        # Reported by the subcommand's parser, whose usage names its options.
        run.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.supervise and SUPERVISOR_ENV not in os.environ:
        # The supervisor loads no application code: the worker it starts does.
        from .restart.supervisor import Supervisor

        return Supervisor(command(), os.getcwd()).run()
    try:
        if args.reload and not reload.available():
            raise AppError(reload.MISSING)
        service, directory = _load(args.target)
        if args.reload:
            watched = [directory or Path.cwd()]
            if args.config:
                watched.append(Path(args.config).resolve().parent)
            reload.Reloader(sorted(set(watched)), service.restart).bind(service)
        if args.config:
            service.settings.load_file(args.config)
        flags = {
            "listen": args.listen,
            "log_level": args.log_level,
            "loop": args.loop,
            "pid_file": args.pid_file,
        }
        service.settings.update(
            "cli", {k: v for k, v in flags.items() if v is not None}, origin="command line"
        )
    except (AppError, SettingsError) as exc:
        report_failure(exc)  # (when a restart started us: the old process says why)
        print(f"hubbub: {exc}", file=sys.stderr)
        return 2
    except BaseException as exc:
        report_failure(exc)
        raise
    service.run()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
