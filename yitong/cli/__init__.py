"""`yitong`: the one operator CLI (DESIGN.md, "Operator CLI").

Exit codes: 0 success; 1 a negative answer (invalid signature, failed check); 2 bad usage, a
bad setting or a file that cannot be opened. Errors are one line on stderr, never a traceback
(set YITONG_DEBUG=1 to see one).
"""

from __future__ import annotations

import os
import sys

import click

from keys.errors import KeysError
from yitong import observability
from yitong.backup import BackupError
from yitong.cli import audit as _audit_chain_commands  # noqa: F401  (adds verify/export/... to `audit`)
from yitong.cli import (
    backup,
    baselib,
    certlogin,
    crypto,
    db,
    federation,
    home,
    idp,
    keys,
    licence,
    operator,
    org,
    pki,
    seal,
    serve,
    verify,
)
from yitong.db import DatabaseError
from yitong.settings import SettingsError

EXIT_NEGATIVE = 1
EXIT_USAGE = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="yitong")
def cli() -> None:
    """Yitong 一通: unified identity (OpenID Connect) and GB/T 38540 electronic seals.

    Configuration comes from YITONG_* environment variables (see README.md); by default
    everything lives in one home, whichever folder you run it from: var/ of the source checkout
    (or ~/.local/share/yitong when installed as a package). `yitong home show` says which.
    """
    observability.configure(os.environ.get("YITONG_LOG_LEVEL", "WARNING").upper(), observability.log_format())


cli.add_command(db.db)
cli.add_command(home.home_group)
cli.add_command(serve.serve)
cli.add_command(serve.worker)
cli.add_command(keys.keys_group)
cli.add_command(crypto.crypto)
cli.add_command(pki.pki)
cli.add_command(idp.user)
cli.add_command(idp.client)
cli.add_command(idp.audit)
cli.add_command(baselib.baselib)
cli.add_command(verify.verify)
cli.add_command(certlogin.cert_login)
cli.add_command(seal.seal)
cli.add_command(licence.licence)
cli.add_command(org.org)
cli.add_command(federation.federation)
cli.add_command(operator.operator)
cli.add_command(backup.backup)
cli.add_command(backup.restore)


def _fail(message: str, code: int) -> None:
    click.echo(f"yitong: error: {message}", err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    try:
        # Without standalone mode click returns the code of `raise click.exceptions.Exit(n)`.
        code = cli.main(args=argv, prog_name="yitong", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        _fail("aborted", EXIT_NEGATIVE)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (SettingsError, DatabaseError, BackupError) as exc:
        _fail(str(exc), EXIT_USAGE)
    except KeysError as exc:
        _fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:  # the last line of defence: one line, not a traceback
        if os.environ.get("YITONG_DEBUG"):
            raise
        _fail(f"internal error ({type(exc).__name__}: {exc}); rerun with YITONG_DEBUG=1 for details", 70)
    sys.exit(code if isinstance(code, int) else 0)
