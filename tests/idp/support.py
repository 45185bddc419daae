"""An IdP on the test storage, driven through the real Flask app, and a PKCE client helper."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

from idp.accounts.store import Accounts
from idp.oauth.clients import ClientRegistry, build_metadata
from yitong.app import create_app
from yitong.home import Home
from yitong.settings import Settings

ISSUER = "http://127.0.0.1:8000"
REDIRECT = "http://127.0.0.1:9000/callback"
PASSWORD = "Tianjin-2026-correct"


@dataclass
class Idp:
    app: object
    home: Home
    accounts: Accounts
    clients: ClientRegistry

    def client(
        self,
        *,
        public=False,
        grants=("authorization_code", "refresh_token"),
        scope="openid profile phone offline_access",
        alg="ES256",
        **extra,
    ):
        metadata = build_metadata(
            redirect_uris=[REDIRECT],
            grant_types=list(grants),
            scope=scope,
            token_endpoint_auth_method=None,
            public=public,
            post_logout_redirect_uris=["http://127.0.0.1:9000/bye"],
            id_token_signed_response_alg=alg,
            **extra,
        )
        return self.clients.create("Test portal", metadata)


# The settings `yitong db upgrade` (Home.initialise) reads besides the home and the database: homes made with
# the same ones are the same, so one is made per session and copied (Storage.restore).
_INITIALISE_SETTINGS = ("YITONG_ISSUER", "YITONG_MASTER_KEY", "YITONG_MASTER_KEY_FILE", "YITONG_SM",
                        "YITONG_TSA_ALGORITHM", "YITONG_SEAL_FONT", "YITONG_SEAL_REGION", "YITONG_SEAL_AUDIENCE",
                        "YITONG_SEAL_IDP_ISSUER", "YITONG_SEAL_CLIENT_ID", "YITONG_SEAL_CLIENT_SECRET")


def make_idp(storage, tmp_path, *, with_pki: bool = False, **extra_env: str) -> Idp:
    """An initialised home (``with_pki``: with its CAs and sample licence types) and its app. The home is a
    copy of one the session made with the same settings: the test's own database and files."""
    initialise_env = {"YITONG_ISSUER": ISSUER, **{k: v for k, v in extra_env.items() if k in _INITIALISE_SETTINGS}}

    def initialised(snapshot, directory):
        env = {"YITONG_HOME": str(directory / "home"), **snapshot.env(), **initialise_env}
        env.pop("YITONG_REDIS_URL", None)
        home = Home(Settings.from_env(env))
        home.__dict__["runtime"] = snapshot.runtime
        home.initialise(with_pki=with_pki)
        home.engine.dispose()

    storage.restore(("idp", with_pki, *sorted(initialise_env.items())), initialised, tmp_path)
    env = {"YITONG_HOME": str(tmp_path / "home"), **storage.env(), "YITONG_ISSUER": ISSUER, **extra_env}
    env.pop("YITONG_REDIS_URL", None)
    settings = Settings.from_env(env)
    home = Home(settings)
    home.__dict__["runtime"] = storage.runtime  # Redis under a per-test prefix on the PostgreSQL run
    home.adopt_public_url(record=True)  # as Home.initialise leaves the home's settings
    app = create_app(settings, home)
    keystore = home.keystore()
    # The app's own Accounts: its sessions are in Redis on the PostgreSQL + Redis run.
    clients = ClientRegistry(home.engine, keystore.secret("client-secret-pepper"))
    return Idp(app, home, app.extensions["yitong.idp"].accounts, clients)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(client_id: str, challenge: str | None, **params) -> str:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid profile offline_access",
        "state": "st-1",
        "nonce": "n-1",
    }
    if challenge:
        query.update(code_challenge=challenge, code_challenge_method="S256")
    query.update(params)
    return "/authorize?" + urlencode({k: v for k, v in query.items() if v is not None})


def login(web, username: str, password: str = PASSWORD, return_to: str = "/", ip: str = "127.0.0.1", **extra):
    """Sign in through the real form (with its CSRF token); returns the POST response."""
    page = web.get("/login?" + urlencode({"return_to": return_to}), environ_base={"REMOTE_ADDR": ip})
    csrf = page.get_data(as_text=True).split('name="csrf" value="')[1].split('"')[0]
    form = {"csrf": csrf, "return_to": return_to, "login": username, "password": password, **extra}
    return web.post("/login", data=form, environ_base={"REMOTE_ADDR": ip})


def through_consent(web, response, decision: str = "allow"):
    """If the authorization endpoint asks for consent, answer it and follow back once."""
    if response.status_code != 200 or 'action="/consent"' not in response.get_data(as_text=True):
        return response
    page = response.get_data(as_text=True)
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    return_to = page.split('name="return_to" value="')[1].split('"')[0].replace("&amp;", "&")
    answered = web.post("/consent", data={"csrf": csrf, "return_to": return_to, "decision": decision})
    assert answered.status_code == 302
    return web.get(answered.headers["Location"])


def tokens_of(idp, web, client, secret, **params):
    """Code flow in browser ``web`` (signed in already): (token response, ID token claims)."""
    import json

    code = code_from(through_consent(web, web.get(authorize_url(client.client_id, None, **params))))["code"]
    answer = web.post("/token", data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
                      auth=(client.client_id, secret)).get_json()
    part = answer["id_token"].split(".")[1]
    return answer, json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def confirm_logout(web, **params):
    """/logout without an ID token hint of the signed-in person asks first (idp/oauth/logout.py): answer
    the confirmation page's form; returns the POST's response."""
    page = web.get("/logout?" + urlencode(params))
    assert page.status_code == 200 and 'action="/logout"' in page.get_data(as_text=True), page.status_code
    form = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', page.get_data(as_text=True)))
    return web.post("/logout", data={k: html.unescape(v) for k, v in form.items()})


def code_from(response) -> dict:
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith(REDIRECT), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


class BackchannelReceiver:
    """An RP's back-channel logout endpoint on a loopback port that takes one POST and keeps its
    ``logout_token`` (OIDC Back-Channel Logout 1.0 §2.5)."""

    def __init__(self) -> None:
        import http.server
        import threading

        received, arrived = [], threading.Event()

        class Endpoint(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                received.append(parse_qs(self.rfile.read(length).decode())["logout_token"][0])
                self.send_response(200)
                self.end_headers()
                arrived.set()

            def log_message(self, *args):
                pass

        self._received, self._arrived = received, arrived
        self._server = http.server.HTTPServer(("127.0.0.1", 0), Endpoint)
        threading.Thread(target=self._server.handle_request, daemon=True).start()
        self.uri = f"http://127.0.0.1:{self._server.server_port}/bcl"

    def logout_token(self, idp: Idp, timeout: float = 10) -> str:
        """The token delivered by the job queue: with RQ (the Redis run) this runs what `yitong
        worker` does, in-process; the in-process queue delivers by itself."""
        jobs = idp.home.runtime.jobs
        if jobs.durable:
            jobs.worker(in_process=True).work(burst=True)
        assert self._arrived.wait(timeout=timeout), "no logout token arrived"
        self._server.server_close()
        return self._received[0]


POPULATION_EVIDENCE = {"type": "electronic_record", "time": "2026-11-01T08:00:00+00:00",
                       "check_details": [{"check_method": "data", "organization": "population library",
                                          "txn": "t-1"}]}


def bind_population_identity(env: dict, sub: str, name: str, id_number: str) -> None:
    """A real name in the home ``env`` names, recorded as /account/realname records a population-library
    match (for tests that drive the CLI and `yitong serve` rather than an app in the test process)."""
    from datetime import UTC, datetime

    from idp.identity import Identities

    home = Home(Settings.from_env(env))
    Identities(home.engine, home.keystore()).bind(sub, id_type="resident", name=name, id_number=id_number,
                                                  trust_framework="cn_population_library",
                                                  evidence=POPULATION_EVIDENCE,
                                                  verified_at=datetime(2026, 11, 1, 8, 0, tzinfo=UTC))
    home.engine.dispose()
