"""Backup and restore of one Yitong installation (issue 16, item 4).

A backup is a folder: the database (``pg_dump --format=custom`` for PostgreSQL, SQLite's online
backup API for the embedded default, both consistent while the service runs), the home's PKI
files (the trust bundle), and ``manifest.json`` with the SHA-256 of each part, the schema
revision and the master key's check value. Never the master key: the operator keeps it elsewhere,
and a restore needs it (it unwraps every private key in the database). Nor the SMS outbox (live
codes).

A restore goes onto an empty database and a home without PKI files. Everything is checked before
anything is written (the manifest's hashes, the master key against the backup's check value, the
target database empty), so a refused restore changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL

from keys.keystore.store import _MASTER_CHECK  # the name keys_meta records the check value under
from yitong.home import Home, load_master_key
from yitong.settings import SettingsError

FORMAT = "yitong-backup/1"
MANIFEST = "manifest.json"


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and what to do."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """(a libpq connection URI without the password, the environment carrying it)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False), env


def _run(argv: list[str], env: dict[str, str], what: str) -> None:
    try:
        done = subprocess.run(argv, env=env, capture_output=True, timeout=3600, check=False)
    except FileNotFoundError:
        raise BackupError(f"{argv[0]} is not installed (PostgreSQL client tools, same major version as the "
                          "server)") from None
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        raise BackupError(f"{what} failed: {lines[-1] if lines else f'exit status {done.returncode}'}")


def backup(home: Home, out: Path) -> dict:
    """Write a backup of ``home`` (database, PKI files, manifest) into the new folder ``out``."""
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"{out} is not empty; back up into a new folder")
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    out.chmod(0o700)
    url = home.settings.database_url
    with home.engine.connect() as conn:
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        check = conn.execute(text("SELECT value FROM keys_meta WHERE name = :n"), {"n": _MASTER_CHECK}).scalar()
    if url.get_backend_name() == "sqlite":
        part = "database.sqlite3"
        source = sqlite3.connect(f"file:{url.database}?mode=ro", uri=True)
        target = sqlite3.connect(out / part)
        try:
            source.backup(target)  # a consistent copy, also while the server writes
        finally:
            target.close()
            source.close()
    elif url.get_backend_name() == "postgresql":
        part = "database.pgdump"
        uri, env = _libpq(url)
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--file", str(out / part),
              "--dbname", uri], env, "pg_dump")
    else:
        raise BackupError(f"cannot back up a {url.get_backend_name()} database")
    (out / part).chmod(0o600)
    parts = [part]
    pki = home.settings.pki_dir
    if pki.is_dir():
        for path in sorted(p for p in pki.rglob("*") if p.is_file()):
            relative = Path("pki") / path.relative_to(pki)
            (out / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, out / relative)
            parts.append(relative.as_posix())
    manifest = {
        "format": FORMAT, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": {"backend": url.get_backend_name(), "part": part, "alembic_revision": revision},
        "issuer": home.settings.issuer, "master_key_check": check,
        "parts": [{"path": name, "sha256": _sha256(out / name), "bytes": (out / name).stat().st_size}
                  for name in parts],
        "not_included": ["the master key (keep it apart; restore needs it)", "the SMS outbox"],
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return manifest


def read_manifest(folder: Path) -> dict:
    """The manifest of a backup, with every part's SHA-256 checked."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError(f"{folder} has no {MANIFEST}: not a Yitong backup") from None
    except ValueError as exc:
        raise BackupError(f"{folder / MANIFEST} is not JSON: {exc}") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{folder} is a {manifest.get('format')!r} backup; this version reads {FORMAT}")
    for part in manifest["parts"]:
        path = folder / part["path"]
        if ".." in Path(part["path"]).parts or not path.is_file():
            raise BackupError(f"the backup's part {part['path']} is missing")
        if _sha256(path) != part["sha256"]:
            raise BackupError(f"the backup's part {part['path']} does not match its SHA-256 in the manifest")
    return manifest


def restore(home: Home, folder: Path) -> dict:
    """Restore the backup in ``folder`` onto ``home``'s (empty) database and PKI folder."""
    manifest = read_manifest(folder)
    database = manifest["database"]
    url = home.settings.database_url
    if database["backend"] != url.get_backend_name():
        raise BackupError(f"the backup holds a {database['backend']} database; YITONG_DATABASE_URL names a "
                          f"{url.get_backend_name()} one")
    settings = home.settings
    if not (settings.master_key_inline or settings.master_key_file or settings.default_master_key_file.exists()):
        raise BackupError("a restore needs the master key of the backed-up installation: set "
                          "YITONG_MASTER_KEY_FILE (or YITONG_MASTER_KEY); nothing was changed")
    try:
        master = load_master_key(home.settings, create=False)
    except SettingsError as exc:
        raise BackupError(f"{exc}; a restore needs the master key of the backed-up installation "
                          "(YITONG_MASTER_KEY_FILE or YITONG_MASTER_KEY); nothing was changed") from None
    if manifest.get("master_key_check") and master.check_value != manifest["master_key_check"]:
        raise BackupError("the master key does not match the backup's keystore: set YITONG_MASTER_KEY_FILE "
                          "(or YITONG_MASTER_KEY) to the key the backed-up installation used; nothing was changed")
    pki = home.settings.pki_dir
    if pki.exists() and any(pki.iterdir()):
        raise BackupError(f"{pki} already holds PKI files; restore into a fresh YITONG_HOME")
    if url.get_backend_name() == "sqlite":
        target = Path(url.database)
        if target.exists() and target.stat().st_size > 0:
            raise BackupError(f"{target} already exists; restore onto an empty database")
    else:
        with home.engine.connect() as conn:
            tables = inspect(conn).get_table_names()
        if tables:
            raise BackupError(f"the database of YITONG_DATABASE_URL is not empty ({len(tables)} tables); "
                              "restore onto an empty database")
    home.settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    part = folder / database["part"]
    if url.get_backend_name() == "sqlite":
        home.engine.dispose()
        source = sqlite3.connect(f"file:{part}?mode=ro", uri=True)
        target_db = sqlite3.connect(url.database)
        try:
            source.backup(target_db)
        finally:
            target_db.close()
            source.close()
        Path(url.database).chmod(0o600)
    else:
        uri, env = _libpq(url)
        _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
              "--dbname", uri, str(part)], env, "pg_restore")
    for entry in manifest["parts"]:
        if entry["path"].startswith("pki/"):
            destination = pki / Path(entry["path"]).relative_to("pki")
            destination.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            shutil.copy2(folder / entry["path"], destination)
    home.keystore()  # the restored keystore opens with this master key
    return manifest
