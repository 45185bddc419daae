"""Settings from the environment (``YITONG_*``), validated once at start-up.

Every setting is listed in README.md's table. A bad value raises :class:`SettingsError` with a
message an operator can act on; the CLI prints it on one line and exits 2 (no traceback).
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from idp.security.passwords import configured_cost
from keys.runtime import DEFAULT_PREFIX
from yitong.look import LookError, SiteLook

SM2_BACKENDS = ("native", "pure", "auto")
TSA_ALGORITHMS = ("sm2", "p256")
DEFAULT_PORT = 8000


class SettingsError(Exception):
    """A setting is missing, malformed or points at something unusable."""


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: URL
    redis_url: str | None
    master_key_file: Path | None
    master_key_inline: str | None = field(repr=False, default=None)
    issuer: str = f"http://127.0.0.1:{DEFAULT_PORT}"
    issuer_configured: bool = False  # YITONG_ISSUER was set (else the default; the home's recorded URL wins)
    sm2_backend: str = "auto"
    redis_prefix: str = DEFAULT_PREFIX  # YITONG_REDIS_PREFIX: the namespace of this installation's keys and job queue
    tsa_algorithm: str = "sm2"
    seal_audience: str | None = None
    dcr_initial_token: str | None = field(default=None, repr=False)
    log_level: str = "INFO"
    # The base libraries (population, legal-person, e-licence) behind idp/connectors (issue 5).
    baselib_url: str | None = None  # None: `{issuer}/baselib` when mounted here, else not configured
    baselib_key: bytes | None = field(default=None, repr=False)  # None: the keystore's "baselib-hmac" secret
    baselib_mount: bool = True  # mount the reference stand-in at /baselib/ (default: embedded mode only)
    baselib_ca_file: Path | None = None  # CA certificates (PEM) trusted for an https base library
    connector_timeout: float = 5.0
    connector_retries: int = 2
    connector_breaker_threshold: int = 5
    connector_breaker_cooldown: float = 30.0
    # Certificate login (loa:4): anchors (None: this home's own CAs), fetching, mutual-TLS proxies.
    cert_login_trust: Path | None = None
    cert_login_fetch: bool = False
    cert_login_proxies: tuple[str, ...] = ()
    cert_login_header: str = "X-SSL-Client-Cert"
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (app and gunicorn alike).
    trusted_proxies: tuple[str, ...] = ()
    # Who may read /metrics (yitong/observability.py): these networks, or a caller with the token.
    metrics_allow: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    metrics_token: str | None = field(default=None, repr=False)
    verify_max_bytes: int = 20 * 1024 * 1024  # /verify/ uploads (verify/web.py DEFAULT_MAX_BYTES)
    verify_rate_limit: int = 30  # verifications per client IP per minute
    verify_concurrency: int = 2  # documents verified at once per server process; more get 503
    licence_share_rate_limit: int = 600  # sharing API requests per client per minute (licence/share_api.py)
    # Hostile PDFs (issue 12, items 8-9): bounds for every document sealed or verified by the server.
    pdf_max_pages: int = 10_000
    pdf_max_objects: int = 500_000
    pdf_seconds: float = 30.0
    seal_font: str | None = None
    seal_max_bytes: int = 64 * 1024 * 1024
    seal_idp_issuer: str | None = None
    seal_region: str = "120000"
    seal_client_id: str | None = None
    seal_client_secret: str | None = field(default=None, repr=False)
    # SMS one-time codes (issue 5): the gateway, and the embedded default's outbox file.
    sms_gateway: str = "outbox"
    sms_outbox: Path | None = None  # None: $YITONG_HOME/sms-outbox.jsonl
    # The deployment's look and time zone (issue 18): site name, logo, colour, footer, hotline.
    look: SiteLook = field(default_factory=SiteLook)
    # Tamper-evident audit (issue 17): checkpoint cadence and how long records stay in the database.
    audit_checkpoint_events: int = 1000
    audit_checkpoint_minutes: int = 10
    audit_retention_days: int = 180
    # The operator console's sessions (yitong/console.py): ended after this long idle, and in any case
    # this long after the sign-in; meanwhile the console refreshes its access tokens.
    console_idle_seconds: int = 900
    console_max_seconds: int = 8 * 3600
    # Step-up per action (keys/stepup.py): an operator's sign-in at most this old for sensitive actions.
    admin_stepup_seconds: int = 300

    @property
    def embedded(self) -> bool:
        """True when nothing outside this process is configured (SQLite, no Redis)."""
        return self.database_url.get_backend_name() == "sqlite" and not self.redis_url

    @property
    def default_master_key_file(self) -> Path:
        return self.home / "master.key"

    @property
    def pki_dir(self) -> Path:
        return self.home / "pki"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("YITONG_HOME") or default_home(env)).expanduser().resolve()
        database_url = _database_url(env.get("YITONG_DATABASE_URL"), home)
        master_key_file = env.get("YITONG_MASTER_KEY_FILE") or None
        master_key_inline = env.get("YITONG_MASTER_KEY") or None
        if master_key_file and master_key_inline:
            raise SettingsError("set YITONG_MASTER_KEY_FILE or YITONG_MASTER_KEY, not both")
        backend = (env.get("YITONG_SM2_BACKEND") or "auto").strip().lower()
        if backend not in SM2_BACKENDS:
            raise SettingsError(f"YITONG_SM2_BACKEND must be one of {', '.join(SM2_BACKENDS)}; got {backend!r}")
        try:
            configured_cost(env)  # YITONG_PASSWORD_ARGON2: idp/security/passwords.py reads it where it hashes
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        tsa_algorithm = (env.get("YITONG_TSA_ALGORITHM") or "sm2").strip().lower()
        if tsa_algorithm not in TSA_ALGORITHMS:
            raise SettingsError(f"YITONG_TSA_ALGORITHM must be sm2 or p256; got {tsa_algorithm!r}")
        level = (env.get("YITONG_LOG_LEVEL") or "INFO").upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise SettingsError(f"YITONG_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR; got {level!r}")
        embedded = database_url.get_backend_name() == "sqlite" and not env.get("YITONG_REDIS_URL")
        return cls(
            home=home,
            database_url=database_url,
            redis_url=_redis_url(env.get("YITONG_REDIS_URL")),
            redis_prefix=_redis_prefix(env.get("YITONG_REDIS_PREFIX")),
            master_key_file=Path(master_key_file).expanduser().resolve() if master_key_file else None,
            master_key_inline=master_key_inline,
            issuer=normalise_issuer(env.get("YITONG_ISSUER") or f"http://127.0.0.1:{DEFAULT_PORT}"),
            issuer_configured=bool(env.get("YITONG_ISSUER")),
            sm2_backend=backend,
            tsa_algorithm=tsa_algorithm,
            seal_audience=_absolute_uri(env.get("YITONG_SEAL_AUDIENCE"), "YITONG_SEAL_AUDIENCE"),
            dcr_initial_token=_initial_token(env.get("YITONG_DCR_INITIAL_ACCESS_TOKEN")),
            log_level=level,
            baselib_url=_baselib_url(env.get("YITONG_BASELIB_URL")),
            baselib_key=_baselib_key(env.get("YITONG_BASELIB_KEY"), env.get("YITONG_BASELIB_KEY_FILE")),
            baselib_mount=_flag(env.get("YITONG_BASELIB_MOUNT"), "YITONG_BASELIB_MOUNT", default=embedded),
            baselib_ca_file=_readable_file(env.get("YITONG_BASELIB_CA_FILE"), "YITONG_BASELIB_CA_FILE"),
            connector_timeout=_number(env.get("YITONG_CONNECTOR_TIMEOUT"), "YITONG_CONNECTOR_TIMEOUT", 5.0, 0.1, 60),
            connector_retries=int(_number(env.get("YITONG_CONNECTOR_RETRIES"), "YITONG_CONNECTOR_RETRIES", 2, 0, 5,
                                          integer=True)),
            connector_breaker_threshold=int(_number(env.get("YITONG_CONNECTOR_BREAKER_THRESHOLD"),
                                                    "YITONG_CONNECTOR_BREAKER_THRESHOLD", 5, 1, 1000, integer=True)),
            connector_breaker_cooldown=_number(env.get("YITONG_CONNECTOR_BREAKER_COOLDOWN"),
                                               "YITONG_CONNECTOR_BREAKER_COOLDOWN", 30.0, 0.1, 3600),
            cert_login_trust=_readable_file(env.get("YITONG_CERT_LOGIN_TRUST"), "YITONG_CERT_LOGIN_TRUST"),
            cert_login_fetch=_flag(env.get("YITONG_CERT_LOGIN_FETCH"), "YITONG_CERT_LOGIN_FETCH", default=False),
            cert_login_proxies=_addresses(env.get("YITONG_CERT_LOGIN_PROXIES"), "YITONG_CERT_LOGIN_PROXIES"),
            cert_login_header=(env.get("YITONG_CERT_LOGIN_HEADER") or "X-SSL-Client-Cert").strip(),
            trusted_proxies=_addresses(env.get("YITONG_TRUSTED_PROXIES"), "YITONG_TRUSTED_PROXIES", networks=True),
            metrics_allow=_addresses(env.get("YITONG_METRICS_ALLOW", "127.0.0.1,::1"), "YITONG_METRICS_ALLOW",
                                     networks=True),
            metrics_token=_metrics_token(env.get("YITONG_METRICS_TOKEN")),
            verify_max_bytes=_positive_int(env.get("YITONG_VERIFY_MAX_BYTES"), "YITONG_VERIFY_MAX_BYTES",
                                           20 * 1024 * 1024),
            verify_rate_limit=int(_number(env.get("YITONG_VERIFY_RATE_LIMIT"), "YITONG_VERIFY_RATE_LIMIT", 30, 1,
                                          1_000_000, integer=True)),
            licence_share_rate_limit=int(_number(env.get("YITONG_LICENCE_SHARE_RATE_LIMIT"),
                                                 "YITONG_LICENCE_SHARE_RATE_LIMIT", 600, 1, 1_000_000, integer=True)),
            verify_concurrency=int(_number(env.get("YITONG_VERIFY_CONCURRENCY"), "YITONG_VERIFY_CONCURRENCY", 2, 1,
                                           64, integer=True)),
            pdf_max_pages=int(_number(env.get("YITONG_PDF_MAX_PAGES"), "YITONG_PDF_MAX_PAGES", 10_000, 1,
                                      1_000_000, integer=True)),
            pdf_max_objects=int(_number(env.get("YITONG_PDF_MAX_OBJECTS"), "YITONG_PDF_MAX_OBJECTS", 500_000, 100,
                                        100_000_000, integer=True)),
            pdf_seconds=_number(env.get("YITONG_PDF_SECONDS"), "YITONG_PDF_SECONDS", 30.0, 0.1, 3600),
            seal_font=_seal_font(env.get("YITONG_SEAL_FONT")),
            seal_max_bytes=_positive_int(env.get("YITONG_SEAL_MAX_BYTES"), "YITONG_SEAL_MAX_BYTES", 64 * 1024 * 1024),
            seal_idp_issuer=normalise_issuer(env["YITONG_SEAL_IDP_ISSUER"]) if env.get("YITONG_SEAL_IDP_ISSUER")
            else None,
            seal_region=_seal_region(env.get("YITONG_SEAL_REGION")),
            seal_client_id=env.get("YITONG_SEAL_CLIENT_ID") or None,
            seal_client_secret=env.get("YITONG_SEAL_CLIENT_SECRET") or None,
            sms_gateway=_sms_gateway(env.get("YITONG_SMS_GATEWAY")),
            sms_outbox=Path(env["YITONG_SMS_OUTBOX"]).expanduser().resolve() if env.get("YITONG_SMS_OUTBOX")
            else home / "sms-outbox.jsonl",
            look=_look(env),
            audit_checkpoint_events=int(_number(env.get("YITONG_AUDIT_CHECKPOINT_EVENTS"),
                                                "YITONG_AUDIT_CHECKPOINT_EVENTS", 1000, 1, 1_000_000, integer=True)),
            audit_checkpoint_minutes=int(_number(env.get("YITONG_AUDIT_CHECKPOINT_MINUTES"),
                                                 "YITONG_AUDIT_CHECKPOINT_MINUTES", 10, 1, 1440, integer=True)),
            # 网络安全法 §21: network logs are kept no less than six months.
            audit_retention_days=int(_number(env.get("YITONG_AUDIT_RETENTION_DAYS"), "YITONG_AUDIT_RETENTION_DAYS",
                                             180, 180, 36_500, integer=True)),
            console_idle_seconds=int(_number(env.get("YITONG_CONSOLE_IDLE_SECONDS"), "YITONG_CONSOLE_IDLE_SECONDS", 900,
                                             60, 86400, integer=True)),
            console_max_seconds=int(_number(env.get("YITONG_CONSOLE_MAX_SECONDS"), "YITONG_CONSOLE_MAX_SECONDS",
                                            8 * 3600, 300, 7 * 86400, integer=True)),
            admin_stepup_seconds=int(_number(env.get("YITONG_ADMIN_STEPUP_SECONDS"), "YITONG_ADMIN_STEPUP_SECONDS",
                                             300, 30, 3600, integer=True)),
        )


def _look(env) -> SiteLook:
    try:
        return SiteLook.from_env(env)
    except LookError as exc:
        raise SettingsError(str(exc)) from None


def default_home(env) -> Path:
    """Where the home is without YITONG_HOME: the same for every command, wherever it is run from.

    Running from a source checkout (as `make run` does): its ``var/``. Installed as a package:
    ``$XDG_DATA_HOME/yitong`` (``~/.local/share/yitong``).
    """
    checkout = Path(__file__).resolve().parent.parent
    try:
        ours = 'name = "yitong"' in (checkout / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        ours = False
    if ours:
        return checkout / "var"
    return Path(env.get("XDG_DATA_HOME") or "~/.local/share").expanduser() / "yitong"


def _database_url(raw: str | None, home: Path) -> URL:
    if not raw:
        return make_url(f"sqlite:///{home / 'yitong.db'}")
    try:
        url = make_url(raw)
    except ArgumentError as exc:
        raise SettingsError(
            f"YITONG_DATABASE_URL is not a database URL ({exc}); expected e.g. "
            "postgresql+psycopg://user@host/db or sqlite:////path/yitong.db"
        ) from None
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise SettingsError(f"YITONG_DATABASE_URL: unsupported database {backend!r} (use postgresql or sqlite)")
    if backend == "postgresql":
        driver = url.get_driver_name()
        if driver in ("psycopg2", "pg8000", "asyncpg"):
            raise SettingsError(f"YITONG_DATABASE_URL: driver {driver!r} is not supported; use postgresql+psycopg://")
        url = url.set(drivername="postgresql+psycopg")
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise SettingsError(
                "YITONG_DATABASE_URL names PostgreSQL but psycopg is not installed; "
                "install the 'postgres' extra: pip install 'yitong[postgres]'"
            ) from None
        if not url.host and not url.query.get("host"):
            raise SettingsError("YITONG_DATABASE_URL: a PostgreSQL URL needs a host")
        if not url.database:
            raise SettingsError("YITONG_DATABASE_URL: a PostgreSQL URL needs a database name")
    elif url.database in (None, "", ":memory:"):
        raise SettingsError("YITONG_DATABASE_URL: an in-memory SQLite database would lose everything on restart")
    return url


def _baselib_url(raw: str | None) -> str | None:
    if not raw:
        return None
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise SettingsError(f"YITONG_BASELIB_URL must be an http(s) base URL such as "
                            f"https://baselib.example.gov.cn/baselib (no query); got {raw!r}")
    return raw.strip().rstrip("/")


def _baselib_key(inline: str | None, path: str | None) -> bytes | None:
    """At least 16 bytes: hex (32+ digits) or base64, inline or in a file."""
    if inline and path:
        raise SettingsError("set YITONG_BASELIB_KEY or YITONG_BASELIB_KEY_FILE, not both")
    name = "YITONG_BASELIB_KEY"
    if path:
        name = "YITONG_BASELIB_KEY_FILE"
        try:
            inline = Path(path).expanduser().read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise SettingsError(f"YITONG_BASELIB_KEY_FILE: cannot read {path}: {reason}") from None
    if not inline:
        return None
    text = inline.strip()
    try:
        key = bytes.fromhex(text) if re.fullmatch(r"[0-9a-fA-F]+", text) else base64.b64decode(text, validate=True)
    except ValueError:
        raise SettingsError(f"{name} must be hex or base64") from None
    if len(key) < 16:
        raise SettingsError(f"{name} must hold at least 16 bytes (32 hex digits)")
    return key


def _sms_gateway(raw: str | None) -> str:
    value = (raw or "outbox").strip().lower()
    if value != "outbox":
        raise SettingsError(f"YITONG_SMS_GATEWAY must be outbox (the only gateway built in); got {raw!r}")
    return value


def _readable_file(raw: str | None, name: str) -> Path | None:
    if not raw:
        return None
    path = Path(raw).expanduser().resolve()
    try:
        path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"{name}: cannot read {path}: {exc.strerror or exc}") from None
    return path


def _addresses(raw: str | None, name: str, *, networks: bool = False) -> tuple[str, ...]:
    """Comma-separated IP addresses (or, with ``networks``, CIDR networks such as 10.1.0.0/24)."""
    import ipaddress

    parse, what = (ipaddress.ip_network, "an IP address or CIDR network") if networks \
        else (ipaddress.ip_address, "an IP address")
    out = []
    for item in (raw or "").replace(" ", "").split(","):
        if not item:
            continue
        try:
            out.append(str(parse(item)))
        except ValueError as exc:
            raise SettingsError(f"{name}: {item!r} is not {what} ({exc}); expected a comma-separated list") from None
    return tuple(out)


def _flag(raw: str | None, name: str, *, default: bool) -> bool:
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false; got {raw!r}")


def _number(raw: str | None, name: str, default: float, low: float, high: float, *, integer: bool = False) -> float:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be {'an integer' if integer else 'a number'}; got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low:g} and {high:g}; got {raw!r}")
    return value


def _seal_font(raw: str | None) -> str | None:
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_file():
        raise SettingsError(f"YITONG_SEAL_FONT={raw} is not a font file (e.g. /usr/share/fonts/opentype/noto/"
                            "NotoSerifCJK-Bold.ttc from Debian's fonts-noto-cjk)")
    return str(path.resolve())


def _positive_int(raw: str | None, name: str, default: int) -> int:
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number of bytes; got {raw!r}") from None
    if value < 1024:
        raise SettingsError(f"{name} must be at least 1024; got {value}")
    return value


def _seal_region(raw: str | None) -> str:
    value = (raw or "120000").strip()
    if not re.fullmatch(r"\d{6}", value):
        raise SettingsError(f"YITONG_SEAL_REGION must be a 6-digit administrative division code; got {raw!r}")
    return value


def _redis_url(raw: str | None) -> str | None:
    if not raw:
        return None
    scheme = urlsplit(raw).scheme
    if scheme not in ("redis", "rediss", "unix"):
        raise SettingsError(f"YITONG_REDIS_URL must start with redis://, rediss:// or unix://; got {raw!r}")
    return raw


_REDIS_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}:")


def _redis_prefix(raw: str | None) -> str:
    if not raw:
        return DEFAULT_PREFIX
    if not _REDIS_PREFIX.fullmatch(raw):
        raise SettingsError("YITONG_REDIS_PREFIX must be 2-64 letters, digits, '_', '.', '-' or ':' ending in ':' "
                            f"(e.g. yitong-staging:); got {raw!r}")
    return raw


def _initial_token(raw: str | None) -> str | None:
    if not raw:
        return None
    if len(raw) < 32:
        raise SettingsError("YITONG_DCR_INITIAL_ACCESS_TOKEN must be at least 32 characters of random text")
    return raw


def _metrics_token(raw: str | None) -> str | None:
    if not raw:
        return None
    if len(raw.strip()) < 32:
        raise SettingsError("YITONG_METRICS_TOKEN must be at least 32 characters of random text")
    return raw.strip()


def _absolute_uri(raw: str | None, name: str) -> str | None:
    if not raw:
        return None
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise SettingsError(f"{name} must be an absolute http(s) URI without a fragment; got {raw!r}")
    return raw.strip()


_HOST = re.compile(r"^[A-Za-z0-9.\-\[\]:]+$")
_WILDCARD_HOSTS = ("0.0.0.0", "::", "0:0:0:0:0:0:0:0")  # noqa: S104  (named to be refused)


def normalise_issuer(raw: str) -> str:
    """https://id.example.gov.cn/ -> https://id.example.gov.cn (OIDC issuers are compared as strings)."""
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or not _HOST.match(parts.netloc):
        raise SettingsError(
            f"YITONG_ISSUER must be an absolute http(s) URL such as https://id.example.gov.cn; got {raw!r}"
        )
    if parts.query or parts.fragment:
        raise SettingsError("YITONG_ISSUER must not have a query or fragment (OpenID Connect Discovery §3)")
    if "@" in parts.netloc:
        raise SettingsError("YITONG_ISSUER must not contain user information")
    if parts.hostname in _WILDCARD_HOSTS:
        raise SettingsError(
            f"YITONG_ISSUER names {parts.hostname}, an address to listen on, not one clients can reach: set it to "
            f"the URL clients use, e.g. http://<this host's name or address>:{parts.port or 80}")
    return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path.rstrip("/"), "", ""))
