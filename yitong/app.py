"""The application factory: one Flask app that mounts every room's blueprint on one origin."""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import replace

from flask import Flask, jsonify, render_template, request
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, ServiceUnavailable

from baselib import web as baselib_web
from idp import app as idp_app
from idp.acr import LEVELS
from idp.certlogin.certificates import CertLoginConfig, split_bundle
from idp.connectors import ConnectorConfig
from idp.oauth.consent import ScopeFamily
from idp.security import passwords
from keys import stepup
from keys.runtime import StoreUnavailable
from licence import api as licence_api
from licence.catalogue import CatalogueError
from licence.library import LicenceError
from licence.sharing import CONSENT_SCOPE_PREFIX
from seal import api as seal_api
from seal.registry import SealError
from verify.licence import StatusUnavailable
from yitong import console, errors, headers, observability, pki_web, wallet
from yitong.home import Home
from yitong.proxy import ForwardedFor, TrustedProxies
from yitong.seal_idp import seal_idp_gateway
from yitong.settings import Settings, SettingsError

log = logging.getLogger("yitong")


class _CompiledTemplates(BytecodeCache):
    """Jinja's compiled templates kept in memory for the process: an app compiles each template once, and
    another app made in the same process (a test's, a CLI command's) reuses the code. Jinja keys a bucket
    by the template's name and file and checks the source's checksum before it uses the code."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_TEMPLATE_CODE = _CompiledTemplates()


def create_app(settings: Settings | None = None, home: Home | None = None) -> Flask:
    settings = settings or Settings.from_env()
    home = home or Home(settings)
    settings = replace(settings, issuer=home.adopt_public_url().issuer)  # the URL recorded in the home
    app = Flask(__name__)
    app.jinja_options = {**app.jinja_options, "bytecode_cache": _TEMPLATE_CODE}  # before jinja_env is made
    app.config["YITONG_SETTINGS"] = settings
    app.extensions["yitong.home"] = home
    app.json.sort_keys = False
    app.config["YITONG_TIME_ZONE"] = settings.look.time_zone  # idp/words.py: every time a person reads
    app.config[stepup.CONFIG_KEY] = settings.admin_stepup_seconds  # keys/stepup.py: the three admin APIs
    app.jinja_env.globals["site"] = settings.look
    if passwords.active_cost().below_owasp:
        log.warning("passwords are hashed with argon2id %s, below the OWASP minimum %s (YITONG_PASSWORD_ARGON2): "
                    "for tests only", passwords.active_cost(), passwords.OWASP_COST)
    passwords.dummy_hash()  # made now: the first unknown username then costs what the later ones do
    proxies = TrustedProxies(settings.trusted_proxies)
    if proxies:
        app.wsgi_app = ForwardedFor(app.wsgi_app, proxies)
    headers.install(app, https=settings.issuer.startswith("https://"))
    observability.install(app)  # outermost: request ids on every answer, its log lines and counters
    observability.register_metrics(app, observability.MetricsGate(settings.metrics_allow, settings.metrics_token),
                                   collectors=[observability.HomeCollector(home)])
    pki_web.register(app, home.pki, settings.tsa_algorithm)
    baselib_key = settings.baselib_key or home.keystore().secret("baselib-hmac")
    if settings.baselib_mount:  # the reference stand-in for the base libraries (embedded default)
        baselib_web.register(app, engine=home.engine, key=baselib_key,
                             replay=home.runtime.replay_cache("baselib-nonce"))
    _register_verify(app, home, settings)
    idp_app.register(app, engine=home.engine, keystore=home.keystore(), issuer=settings.issuer,
                       runtime=home.runtime, seal_audience=settings.seal_audience,
                       dcr_initial_token=settings.dcr_initial_token,
                       connectors=_connector_config(settings, baselib_key),
                       cert_login=_cert_login_config(settings, home), audit_chain=home.audit_chain())
    seal_api.register(app, home=home, settings=settings, idp_gateway=seal_idp_gateway(app, home, settings))
    idp_services = app.extensions["yitong.idp"]
    licence_api.register(app, home=home, settings=settings, idp_gateway=seal_idp_gateway(app, home, settings),
                         seals=app.extensions["yitong.seal"]["registry"], audience=f"{settings.issuer}/licences",
                         holder_of=idp_services.identities.id_number)
    idp_services.scope_families.append(ScopeFamily(CONSENT_SCOPE_PREFIX, _licence_type_words(app)))
    app.extensions["yitong.verify"].licence_status = _own_licence_status(app)
    app.extensions["yitong.verify"].seal_certificate = _own_seal_certificate(app)
    app.register_blueprint(console.bp)  # /admin/: the operator console (yitong/console.py)
    app.register_blueprint(wallet.bp)  # /licences/wallet: the holder's wallet (yitong/wallet.py)

    @app.get("/")
    def landing():
        """For citizens: what this site is, sign in, register, check a document (issue 18 item 4)."""
        return render_template("index.html", levels=LEVELS, technical=_from_loopback())

    @app.get("/technical")
    def technical_index():
        """The operators' index of endpoints, for requests from this machine only."""
        if not _from_loopback():
            raise NotFound()
        return render_template("technical.html", summary=_summary(settings, home))

    @app.get("/site/logo")
    def site_logo():
        if settings.look.logo is None:
            raise NotFound()
        look = settings.look
        return look.logo, 200, {"Content-Type": look.logo_type, "Cache-Control": "public, max-age=3600"}

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz():
        body = readiness(app, home)
        return jsonify(body), 503 if body["status"] == "not ready" else 200

    @app.errorhandler(HTTPException)
    def http_problem(exc: HTTPException):
        """Every HTTP error, negotiated on Accept (one mechanism): a browser gets an error page in
        its language with the site frame and a way back (yitong/errors.py); anything else RFC 7807
        problem details."""
        # RFC 9110 §15.5.6: a 405 names the methods the resource has.
        allow = {"Allow": ", ".join(exc.valid_methods)} if isinstance(exc, MethodNotAllowed) and exc.valid_methods \
            else {}
        if errors.wants_html():
            return errors.http_error_page(exc), exc.code, allow
        body = {"type": "about:blank", "title": exc.name, "status": exc.code, "detail": exc.description}
        return jsonify(body), exc.code, {"Content-Type": "application/problem+json", **allow}

    @app.errorhandler(StoreUnavailable)
    def store_unavailable(exc: StoreUnavailable):
        """Redis (sessions, replay caches, rate limits, the job queue) is down or stalled: 503 with
        Retry-After, as problem+json or an HTML page like every HTTP error; nothing is let through."""
        log.warning("shared store unavailable on %s %s: %s", request.method, request.path, exc)
        unavailable = ServiceUnavailable(
            "A service this request needs is briefly unavailable; try again in a few seconds.")
        unavailable.retry_after = exc.retry_after_seconds
        response = app.make_response(http_problem(unavailable))
        response.headers["Retry-After"] = str(exc.retry_after_seconds)
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(Exception)
    def internal_problem(exc: Exception):
        request_id = errors.request_id()
        log.exception("unhandled error on %s %s (request id %s)", request.method, request.path, request_id)
        if errors.wants_html():
            return errors.internal_error_page(request_id), 500, {"X-Request-Id": request_id}
        body = {"type": "about:blank", "title": "Internal Server Error", "status": 500,
                "detail": "The server could not complete the request; the error has been logged.",
                "request_id": request_id}
        return jsonify(body), 500, {"Content-Type": "application/problem+json", "X-Request-Id": request_id}

    return app


def readiness(app: Flask, home: Home) -> dict:
    """What an orchestrator and a person need to know before sending traffic here.

    ``not ready`` (503) when the database, Redis or the job queue cannot be used; ``degraded`` (200)
    when only a base library is unreachable or its circuit breaker is open: sign-in still works,
    real-name checks answer "unavailable". Connectors are not called (a probe every few seconds
    would load the base libraries): their breakers are read and their address is connected to.
    """
    checks: dict = {}
    try:
        home.engine.connect().close()
        checks["database"] = "ok"
    except Exception as exc:  # report, never raise, from a probe
        log.warning("readyz database check failed: %s", type(exc).__name__)
        checks["database"] = "unreachable"
    try:
        home.runtime.store.ping()
        checks["cache"] = "ok"
    except Exception as exc:
        log.warning("readyz cache check failed: %s", type(exc).__name__)
        checks["cache"] = "unreachable"
    body: dict = {"status": "ready", "checks": checks}
    try:
        body["jobs"] = home.runtime.jobs.counts()
        checks["jobs"] = "ok"
    except Exception as exc:
        log.warning("readyz job queue check failed: %s", type(exc).__name__)
        checks["jobs"] = "unreachable"
    connectors = _connector_states(app)
    if connectors:
        body["connectors"] = connectors
        healthy = all(c["reachable"] and c["breaker"] == "closed" for c in connectors.values())
        checks["connectors"] = "ok" if healthy else "degraded"
    if any(checks[name] != "ok" for name in ("database", "cache", "jobs")):
        body["status"] = "not ready"
    elif checks.get("connectors", "ok") != "ok":
        body["status"] = "degraded"
    return body


def _connector_states(app: Flask) -> dict:
    import socket
    from dataclasses import fields
    from urllib.parse import urlsplit

    from idp.services import EXTENSION

    services = app.extensions.get(EXTENSION)
    connectors = getattr(services, "connectors", None)
    if connectors is None:
        return {}
    reachable: dict[tuple[str, int], bool] = {}
    out = {}
    for field in fields(connectors):
        client = getattr(getattr(connectors, field.name), "client", None)
        if client is None:
            continue
        url = urlsplit(client.base_url)
        address = (url.hostname or "", url.port or (443 if url.scheme == "https" else 80))
        if address not in reachable:
            try:
                socket.create_connection(address, timeout=1).close()
                reachable[address] = True
            except OSError:
                reachable[address] = False
        try:
            breaker = client.breaker.state()
        except Exception:
            breaker = "unknown"
        out[field.name] = {"reachable": reachable[address],
                           "breaker": breaker}
    return out


def _connector_config(settings: Settings, key: bytes) -> ConnectorConfig | None:
    """The base libraries the IdP asks: YITONG_BASELIB_URL, else the stand-in mounted here, else none."""
    url = settings.baselib_url or (f"{settings.issuer}/baselib" if settings.baselib_mount else None)
    if url is None:
        return None
    return ConnectorConfig(url, key, timeout=settings.connector_timeout, retries=settings.connector_retries,
                           breaker_threshold=settings.connector_breaker_threshold,
                           breaker_cooldown=settings.connector_breaker_cooldown,
                           ca_file=str(settings.baselib_ca_file) if settings.baselib_ca_file else None)


def _cert_login_config(settings: Settings, home: Home) -> CertLoginConfig:
    """Anchors from YITONG_CERT_LOGIN_TRUST, else this home's own CAs with their current CRLs."""
    if settings.cert_login_trust is not None:
        try:
            bundle = split_bundle(settings.cert_login_trust.read_bytes())
        except (OSError, ValueError) as exc:
            raise SettingsError(f"YITONG_CERT_LOGIN_TRUST: {exc}") from None
        if not bundle[0]:
            raise SettingsError("YITONG_CERT_LOGIN_TRUST holds no self-signed (root) certificate")

        def trust():
            return bundle

        crls = list
    else:
        def trust():
            pki = home.pki()
            names = pki.ca_names()
            return pki.roots(), [pki.ca_certificate(n) for n in names if n.endswith("-issuing")]

        def crls():
            pki = home.pki()
            return [pki.crl(ca) for ca in pki.ca_names()]

    return CertLoginConfig(trust=trust, crls=crls, allow_fetching=settings.cert_login_fetch,
                           proxies=settings.cert_login_proxies, header=settings.cert_login_header)


def _register_verify(app: Flask, home: Home, settings: Settings) -> None:
    """/verify/: offline checks with this server's trust bundle, its own CAs and their current CRLs (no URL
    fetching)."""
    from verify import Limits
    from verify import web as verify_web

    max_bytes, rate = settings.verify_max_bytes, settings.verify_rate_limit

    def own_crls() -> list[bytes]:
        pki = home.pki()
        return [pki.crl(ca) for ca in pki.ca_names()]

    def own_cas() -> list[bytes]:  # intermediates for OFD seals, whose SES_Signature holds only the signer's cert
        pki = home.pki()
        return [pki.ca_certificate(ca).dump() for ca in pki.ca_names()]

    service = verify_web.VerifyService(lambda: home.pki().trust_bundle(), crls=own_crls, certs=own_cas,
                                       limiter=home.runtime.rate_limiter("verify:ip", rate, 60), max_bytes=max_bytes,
                                       concurrency=settings.verify_concurrency,
                                       limits=Limits(max_objects=settings.pdf_max_objects,
                                                     seconds=settings.pdf_seconds))
    verify_web.register(app, service)


def _licence_type_words(app: Flask):
    """The IdP's words for the scope ``licence:read:<type>`` (consent page, account page): the licence
    type's names from the catalogue and its issuing authority; None for a type the catalogue lacks."""
    def describe(code: str) -> tuple[str, str] | None:
        try:
            kind = app.extensions["yitong.licence"]["library"]().catalogue.get(code)
        except (CatalogueError, LicenceError):
            return None
        return (f"读取您的电子证照：{kind.name}（{kind.authority_name}签发；不含敏感信息）",
                f"Read your electronic licence: {kind.name_en or kind.name} (issued by {kind.authority_name}; "
                "no sensitive items)")

    return describe


def _own_licence_status(app: Flask):
    """/verify/'s status of a licence: this server's own library, in-process; None for anyone else's (the
    page never fetches the status service a document names: SSRF)."""
    def lookup(licence_id: str, _named_url: str | None) -> str | None:
        try:
            return app.extensions["yitong.licence"]["library"]().status(licence_id)["status"]
        except LicenceError:  # not found here, or not an identifier this library takes
            return None
        except Exception as exc:  # the database is down: the page says the status could not be had
            raise StatusUnavailable(f"this server's licence library: {type(exc).__name__}") from None
    lookup.source = "this server's licence library"
    return lookup


def _own_seal_certificate(app: Flask):
    """/verify/'s certificate of a seal named by a licence's 2D code: this server's own seal registry,
    in-process (its chain is still checked against the trust anchors); None for seals it does not hold."""
    def lookup(esid: str) -> bytes | None:
        try:
            return app.extensions["yitong.seal"]["registry"]().blob(esid, "cert_der")
        except SealError:
            return None
    return lookup


def _from_loopback() -> bool:
    """The client is this machine (after YITONG_TRUSTED_PROXIES' X-Forwarded-For): an operator."""
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def _summary(settings: Settings, home: Home) -> dict:
    """What anyone may read on the landing page: public URLs, never paths, hosts or versions."""
    return {
        "issuer": settings.issuer,
        "cas": _ca_names(home),
        "tsa": "SM2" if settings.tsa_algorithm == "sm2" else "ECDSA P-256",
        "baselib": settings.baselib_mount,
    }


def _ca_names(home: Home) -> list[str]:
    try:
        return home.pki().ca_names()
    except Exception:  # the landing page must render even before `yitong db upgrade`
        return []
