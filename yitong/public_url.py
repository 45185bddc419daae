"""The home's public URL: the OIDC issuer, and the base of the /pki/ URLs that certificates name.

It is recorded in the database (``keys_meta``) when the home is set up, so that the server and
every CLI command, in any shell, with or without ``YITONG_ISSUER``, use the same one. A
certificate keeps the CRL and OCSP URLs it was issued with for life, so the URL changes only on
purpose (`yitong home set-url`), never because one shell's environment differs from another's.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from asn1crypto import x509
from sqlalchemy import Engine, delete, insert, inspect, select
from sqlalchemy.exc import IntegrityError

from keys.keystore.models import meta_table
from keys.pki.models import cas_table
from yitong import db
from yitong.settings import Settings, SettingsError, normalise_issuer

ROW = "public_url"
MAX_LENGTH = meta_table.c.value.type.length  # 256


def recorded(engine: Engine) -> str | None:
    """The recorded URL; None for a home not set up yet (or set up before URLs were recorded)."""
    if not _schema_exists(engine):
        return None
    with engine.connect() as conn:
        return conn.execute(select(meta_table.c.value).where(meta_table.c.name == ROW)).scalar()


def record(engine: Engine, url: str) -> str:
    """Record ``url`` unless a URL is recorded already; the recorded URL either way."""
    _check_length(url)
    with engine.begin() as conn:
        current = conn.execute(select(meta_table.c.value).where(meta_table.c.name == ROW)).scalar()
        if current is not None:
            return current
        try:
            with conn.begin_nested():
                conn.execute(insert(meta_table).values(name=ROW, value=url))
        except IntegrityError:  # another process set the home up at the same moment: theirs stands
            return conn.execute(select(meta_table.c.value).where(meta_table.c.name == ROW)).scalar()
    return url


def named_by_cas(engine: Engine) -> str | None:
    """The URL an issuing CA's certificate names for its root's CRL: a home set up before URLs were recorded."""
    with engine.connect() as conn:
        ders = conn.execute(select(cas_table.c.cert_der).where(cas_table.c.parent.is_not(None))
                            .order_by(cas_table.c.name)).scalars().all()
    for der in ders:
        try:
            points = x509.Certificate.load(der).crl_distribution_points
            url = points[0]["distribution_point"].native[0] if points else ""
        except (ValueError, TypeError, KeyError, IndexError):
            continue
        if "/pki/crl/" in url:
            return normalise_issuer(url.rsplit("/pki/crl/", 1)[0])
    return None


def change(engine: Engine, url: str) -> str | None:
    """Record ``url`` in place of the current one; the previous URL (None if there was none)."""
    _check_length(url)
    if not _schema_exists(engine):
        raise SettingsError("this home is not set up yet: run `yitong db upgrade` first")
    with engine.begin() as conn:
        previous = conn.execute(select(meta_table.c.value).where(meta_table.c.name == ROW)).scalar()
        conn.execute(delete(meta_table).where(meta_table.c.name == ROW))
        conn.execute(insert(meta_table).values(name=ROW, value=url))
    return previous


def settle(settings: Settings, url: str | None) -> Settings:
    """``settings`` with the home's URL as issuer; a YITONG_ISSUER naming another one is refused."""
    if url is None or settings.issuer == url:
        return settings
    if settings.issuer_configured:
        raise SettingsError(
            f"YITONG_ISSUER is {settings.issuer} but this home's public URL is {url} (recorded when the home was "
            f"set up; its certificates name it): use that URL (`make run` builds YITONG_ISSUER from HOST and "
            f"PORT), or change the home's with `yitong home set-url {settings.issuer}`")
    return replace(settings, issuer=url)


def _schema_exists(engine: Engine) -> bool:
    if engine.url.get_backend_name() == "sqlite" and not Path(engine.url.database or "").is_file():
        return False  # do not leave an empty database file behind by looking
    db.ping(engine)
    return inspect(engine).has_table(meta_table.name)


def _check_length(url: str) -> None:
    if len(url) > MAX_LENGTH:
        raise SettingsError(f"the public URL must be at most {MAX_LENGTH} characters; got {len(url)}")
