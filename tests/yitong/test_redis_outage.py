"""Redis stopped or paused (issue 12, item 10): the requests that need it answer 503 with
Retry-After, quickly, and succeed again once Redis is back, without restarting the app. Each
test runs its own redis-server (the ``private_redis`` fixture), never the shared one."""

from __future__ import annotations

import base64
import time

import pytest

from idp.oauth.clients import ClientRegistry, build_metadata
from keys import jose
from keys.asymmetric import generate_private_key
from keys.dpop import proof_for
from keys.runtime import StoreUnavailable
from tests.idp.support import ISSUER, PASSWORD
from tests.seal.pdfs import make_pdf
from yitong.app import create_app
from yitong.home import Home
from yitong.settings import Settings

PAUSED_ANSWER_WITHIN_SECONDS = 6  # one 1 s connect/read and one retry, with room for a busy machine


class Portal:
    """The three requests the probe sent, each made afresh (new CSRF form post, new DPoP proof)."""

    def __init__(self, app, client_id: str, secret: str) -> None:
        self.app = app
        self.browser = app.test_client()
        self.basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        self.key = generate_private_key("p256")
        self.jwk = jose.public_jwk(self.key.public_key(), use=None)

    def login(self):
        page = self.browser.get("/login?return_to=/account")
        csrf = page.get_data(as_text=True).split('name="csrf" value="')[1].split('"')[0]
        return self.browser.post("/login", headers={"Accept": "text/html"}, data={
            "csrf": csrf, "return_to": "/account", "login": "alice", "password": PASSWORD})

    def dpop_token(self):
        return self.app.test_client().post("/token", data={"grant_type": "client_credentials"}, headers={
            "Authorization": f"Basic {self.basic}", "DPoP": proof_for(self.key, self.jwk, "POST", f"{ISSUER}/token")})

    def verify(self):
        return self.app.test_client().post("/verify/api/v1/pdf", data=make_pdf(1, tag="outage"),
                                           headers={"Content-Type": "application/pdf"})

    def all(self):
        return {"login": self.login(), "token": self.dpop_token(), "verify": self.verify()}


@pytest.fixture
def portal(private_redis, tmp_path):
    settings = Settings.from_env({"YITONG_HOME": str(tmp_path / "home"), "YITONG_ISSUER": ISSUER,
                                  "YITONG_REDIS_URL": private_redis.url})
    home = Home(settings)
    home.initialise()
    app = create_app(settings, home)
    app.extensions["yitong.idp"].accounts.create(username="alice", password=PASSWORD, phone="13800138000",
                                                   name="张三")
    clients = ClientRegistry(home.engine, home.keystore().secret("client-secret-pepper"))
    client, secret = clients.create("Business system", build_metadata(
        redirect_uris=[], grant_types=["client_credentials"], scope="seal:read", token_endpoint_auth_method=None,
        public=False))
    return Portal(app, client.client_id, secret)


def assert_working(answers: dict) -> None:
    assert answers["login"].status_code == 302, answers["login"].get_data(as_text=True)
    assert answers["token"].status_code == 200 and answers["token"].get_json()["token_type"] == "DPoP"
    assert answers["verify"].status_code == 200 and answers["verify"].get_json()["files"]


def assert_unavailable(answers: dict) -> None:
    for name, answer in answers.items():
        assert answer.status_code == 503, (name, answer.status_code, answer.get_data(as_text=True)[:300])
        assert 1 <= int(answer.headers["Retry-After"]) <= 60, name
        assert answer.headers["Cache-Control"] == "no-store", name
    assert answers["login"].mimetype == "text/html"  # a browser gets a page
    for name in ("token", "verify"):  # programs get RFC 7807 problem details
        assert answers[name].mimetype == "application/problem+json", name
        assert answers[name].get_json()["status"] == 503


def test_redis_stopped_answers_503_with_retry_after_and_recovers_when_it_is_back(portal, private_redis):
    assert_working(portal.all())
    private_redis.stop()
    assert_unavailable(portal.all())
    private_redis.start()  # the same address, empty: nothing of the app was restarted
    assert_working(portal.all())


def test_redis_paused_answers_503_within_seconds_and_recovers_when_it_continues(portal, private_redis):
    assert_working(portal.all())
    private_redis.pause()
    try:
        answers = {}
        for name, request in (("login", portal.login), ("token", portal.dpop_token), ("verify", portal.verify)):
            started = time.monotonic()
            answers[name] = request()
            assert time.monotonic() - started < PAUSED_ANSWER_WITHIN_SECONDS, name
        assert_unavailable(answers)
    finally:
        private_redis.resume()
    assert_working(portal.all())


def test_a_client_assertion_is_neither_accepted_nor_remembered_while_redis_is_down(portal, private_redis):
    key = generate_private_key("p256")
    jwk = {**jose.public_jwk(key.public_key(), kid="rp-key-1"), "kid": "rp-key-1"}
    clients = ClientRegistry(portal.app.extensions["yitong.home"].engine,
                             portal.app.extensions["yitong.home"].keystore().secret("client-secret-pepper"))
    client, _ = clients.create("Signed-assertion service", build_metadata(
        redirect_uris=[], grant_types=["client_credentials"], scope="seal:read",
        token_endpoint_auth_method="private_key_jwt", public=False, jwks={"keys": [jwk]}))
    now = int(time.time())
    assertion = jose.sign_jwt({"iss": client.client_id, "sub": client.client_id, "aud": f"{ISSUER}/token",
                               "iat": now, "exp": now + 60, "jti": "assertion-1"}, key, "rp-key-1")
    form = {"grant_type": "client_credentials", "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    web = portal.app.test_client()
    private_redis.stop()
    refused = web.post("/token", data=form)
    assert refused.status_code == 503 and refused.headers["Retry-After"]
    private_redis.start()
    assert web.post("/token", data=form).status_code == 200  # first use: the outage recorded nothing
    replayed = web.post("/token", data=form)
    assert replayed.status_code == 400 and replayed.get_json()["error"] == "invalid_client"


def test_replay_cache_and_rate_limiter_fail_closed_when_redis_is_down(private_redis):
    from keys.runtime import open_runtime

    runtime = open_runtime(private_redis.url, prefix="outage:")
    cache, limiter = runtime.replay_cache("dpop"), runtime.rate_limiter("login", limit=3, window_seconds=60)
    assert cache.first_use("jti-1", 60) and limiter.hit("alice").allowed
    private_redis.stop()
    with pytest.raises(StoreUnavailable):
        cache.first_use("jti-2", 60)
    with pytest.raises(StoreUnavailable):
        limiter.hit("alice")
    private_redis.start()
    assert cache.first_use("jti-2", 60) and limiter.hit("alice").allowed
