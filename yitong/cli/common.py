"""Helpers shared by the CLI commands: settings, JSON output, durations, files."""

from __future__ import annotations

import json
import re
import sys
from datetime import timedelta
from pathlib import Path

import click

from yitong.home import Home
from yitong.settings import Settings

_DURATION = re.compile(r"^(\d+)\s*([smhdw]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def open_home() -> Home:
    """The home of YITONG_HOME (else the default), with the public URL recorded in it as issuer."""
    home = closed_with_command(Home(Settings.from_env()))
    home.adopt_public_url()
    return home


def closed_with_command(home: Home) -> Home:
    """``home``, closed when the running command ends (click's context teardown)."""
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(home.close)
    return home


def emit_json(data) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


class Duration(click.ParamType):
    """90s, 15m, 24h, 7d, 2w (a bare number is seconds)."""

    name = "DURATION"

    def convert(self, value, param, ctx):
        if isinstance(value, timedelta):
            return value
        match = _DURATION.match(str(value).strip().lower())
        if not match:
            self.fail(f"{value!r} is not a duration like 90s, 15m, 24h or 7d", param, ctx)
        return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def read_input(path: str) -> bytes:
    """Read a file (``-`` = stdin) or exit 2 with a one-line message."""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise click.UsageError(f"cannot read {path}: {exc.strerror}") from None


def write_output(path: str, data: bytes, *, private: bool = False, overwrite: bool = True) -> None:
    """Write a file whole (``-`` = stdout); private files are created 0600."""
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    target = Path(path)
    if not overwrite and target.exists():
        raise click.UsageError(f"{path} exists; refusing to overwrite a key file")
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        import os

        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except OSError as exc:
        raise click.UsageError(f"cannot write {path}: {exc.strerror}") from None
