"""Inbound brokering against a SECOND Yitong acting as the national platform.

The national platform is a real Yitong app (its own home and database) served by a real HTTP
server on another port: our broker does discovery, the token request, JWKS and userinfo against
it over HTTP. The browser is two Flask test clients (one per origin) that carry the redirects
between the two providers, as a browser would.
"""

from __future__ import annotations

import json
import threading
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pyotp
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from werkzeug.serving import make_server

from idp.assurance import ID_NUMBER_CLAIM
from idp.audit import Audit
from idp.federation import Upstreams
from idp.models import audit_table, federation_links_table, users_table
from idp.oauth.clients import build_metadata
from idp.security import new_secret
from keys import jose
from tests.baselib.server import resident_id
from tests.helpers import free_port
from tests.idp.support import ISSUER, PASSWORD, authorize_url, code_from, login, make_idp, pkce_pair, through_consent
from tests.idp.test_oidc import exchange, jwks
from yitong.app import create_app
from yitong.home import Home
from yitong.settings import Settings

CALLBACK = f"{ISSUER}/login/federation/callback"
LOA = {n: f"urn:yitong:loa:{n}" for n in (1, 2, 3, 4)}


class National:
    """The national platform: a real Yitong on its own port, home and SQLite database."""

    def __init__(self, tmp_path) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        settings = Settings.from_env({"YITONG_HOME": str(tmp_path / "national"), "YITONG_ISSUER": self.issuer,
                                      "YITONG_BASELIB_MOUNT": "false"})
        self.home = Home(settings)
        self.home.initialise(with_pki=False)
        self.app = create_app(settings, self.home)
        self.idp = self.app.extensions["yitong.idp"]
        self.server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.people = 0
        self.totp: dict[str, pyotp.TOTP] = {}  # username -> authenticator of people at loa:3 and above

    def client(self, release=("verified_claims", "id_number")):
        """Our broker, registered at the national platform as an ordinary client."""
        metadata = build_metadata(redirect_uris=[CALLBACK], grant_types=["authorization_code"],
                                  scope="openid profile", token_endpoint_auth_method=None, public=False,
                                  release=list(release))
        return self.idp.clients.create("Tianjin Yitong (broker)", metadata)

    def person(self, name="张三", level=LOA[2], verified=True):
        """A national-platform user whose real name is verified there (a fresh, valid ID number)."""
        self.people += 1
        number = resident_id(f"11010119900101{self.people:03d}")
        user = self.idp.accounts.create(username=f"person{self.people}", password=PASSWORD)
        if verified:
            self.idp.identities.bind(user.sub, id_type="resident", name=name, id_number=number,
                                        trust_framework="cn_population_library",
                                        evidence={"type": "electronic_record"})
        self.idp.accounts.set_level(user.sub, level)
        if level in (LOA[3], LOA[4]):  # loa:3 and above are reached only by a sign-in with a second factor
            secret = new_secret()
            self.idp.accounts.enrol_totp(user.sub, secret)
            self.totp[user.username] = pyotp.TOTP(secret)
        return user, number

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def national(tmp_path_factory):
    platform = National(tmp_path_factory.mktemp("national"))
    yield platform
    platform.stop()


@pytest.fixture
def ours(storage, tmp_path):
    return make_idp(storage, tmp_path)


def configure(ours, national, *, release=("verified_claims", "id_number"), max_acr=LOA[3], name="national",
              issuer=None):
    client, secret = national.client(release)
    upstreams: Upstreams = ours.app.extensions["yitong.idp"].federation
    return upstreams.add(name=name, label="国家政务服务平台", issuer=issuer or national.issuer,
                         client_id=client.client_id, client_secret=secret, scope="openid profile verified_claims",
                         max_acr=max_acr, trust_framework="cn_gjzwfw")


def start(web, return_to="/", name="national"):
    started = web.get(f"/login/federation/{name}?" + urlencode({"return_to": return_to}))
    assert started.status_code == 302, started.get_data(as_text=True)
    return started.headers["Location"]


def at_national(national, upstream_url, username, decision="allow"):
    """The browser at the national platform: sign in, consent; returns the redirect to our callback."""
    web = national.app.test_client()
    path = urlunsplit(("", "", urlsplit(upstream_url).path, urlsplit(upstream_url).query, ""))
    first = web.get(path)
    assert first.status_code == 302 and first.headers["Location"].startswith("/login?")
    signed_in = login(web, username, return_to=path)
    assert signed_in.status_code == 302
    if signed_in.headers["Location"] == "/login/mfa":  # the second factor
        with web.session_transaction() as flask_session:
            csrf = flask_session["csrf"]
        signed_in = web.post("/login/mfa", data={"csrf": csrf, "code": national.totp[username].now()})
        assert signed_in.status_code == 302
    answered = through_consent(web, web.get(signed_in.headers["Location"]), decision)
    assert answered.status_code == 302
    location = answered.headers["Location"]
    assert location.startswith(CALLBACK + "?"), location
    return location[len(ISSUER):]  # the path: the test browser keeps our cookies for its default host


def federated_login(ours_web, national, username, return_to="/"):
    return ours_web.get(at_national(national, start(ours_web, return_to), username))


def events(ours, name):
    return [e for e in Audit(ours.home.engine).tail(500) if e.event == name]


def count_users(ours):
    with ours.home.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(users_table)).scalar()


def rp_id_token(ours, web, scope="openid profile verified_claims"):
    """A relying party of ours signs the (already signed-in) browser in; the ID token's claims."""
    client, secret = ours.client(release=["verified_claims", "id_number"])
    verifier, challenge = pkce_pair()
    response = through_consent(web, web.get(authorize_url(client.client_id, challenge, scope=scope)))
    body = exchange(web, client.client_id, code_from(response)["code"], verifier, secret=secret).get_json()
    return jose.verify_jwt(body["id_token"], jwks(web), algorithms=["ES256"])[1]


# -- the sign-in page and configuration ------------------------------------------------------------------------
def test_the_login_page_offers_the_national_platform_only_when_configured(ours, national):
    web = ours.app.test_client()
    assert "federation-login" not in web.get("/login").get_data(as_text=True)
    configure(ours, national)
    page = web.get("/login?" + urlencode({"return_to": "/authorize?client_id=x"})).get_data(as_text=True)
    assert "使用国家政务服务平台账号登录" in page
    assert 'href="/login/federation/national?return_to=%2Fauthorize%3Fclient_id%3Dx"' in page
    english = web.get("/login?lang=en").get_data(as_text=True)
    assert "Sign in with your 国家政务服务平台 account" in english
    document = web.get("/.well-known/openid-configuration").get_json()
    assert "cn_gjzwfw" in document["trust_frameworks_supported"]


def test_the_authorization_request_to_the_upstream_uses_pkce_state_and_nonce(ours, national):
    configure(ours, national)
    url = start(ours.app.test_client())
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert url.startswith(f"{national.issuer}/authorize?")
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32 and query["state"] != query["nonce"]
    assert query["redirect_uri"] == CALLBACK and query["response_type"] == "code"
    assert query["scope"] == "openid profile verified_claims"


# -- first login creates, the second links -----------------------------------------------------------------------
def test_first_login_creates_the_account_with_the_identity_bound_and_the_second_reuses_it(ours, national):
    upstream = configure(ours, national)
    person, number = national.person(level=LOA[2])
    before = count_users(ours)
    web = ours.app.test_client()
    done = federated_login(web, national, person.username, return_to="/")
    assert done.status_code == 302 and done.headers["Location"] == "/"
    assert "yitong_sso=" in done.headers.get("Set-Cookie", "")
    identities = ours.app.extensions["yitong.idp"].identities
    sub = identities.sub_for_id_number(number)
    assert sub is not None and count_users(ours) == before + 1
    account = ours.accounts.get(sub)
    assert account.acr == LOA[2] and account.username is None and account.name == "张三"
    identity = identities.get(sub)
    assert identity.trust_framework == "cn_gjzwfw" and identity.name == "张三"
    assert identity.evidence["type"] == "vouch"
    assert identity.evidence["attestation"]["voucher"]["organization"] == national.issuer
    assert identity.evidence["attestation"]["reference_number"] == person.sub  # the upstream sub, no ID number
    logged = events(ours, "federation.login")
    assert len(logged) == 1 and logged[0].sub == sub and logged[0].detail["created"] is True
    assert logged[0].detail["acr"] == LOA[2] and logged[0].detail["upstream_sub"] == person.sub
    # Our relying parties now see this person: acr from the upstream, amr fed, verified claims by the upstream.
    claims = rp_id_token(ours, web)
    assert claims["sub"] == sub and claims["acr"] == LOA[2] and claims["amr"] == ["fed"]
    assert claims["verified_claims"]["verification"]["trust_framework"] == "cn_gjzwfw"
    assert claims["verified_claims"]["claims"] == {"name": "张三", ID_NUMBER_CLAIM: number}
    # A second sign-in (another browser) reuses the account.
    again = federated_login(ours.app.test_client(), national, person.username)
    assert again.status_code == 302 and count_users(ours) == before + 1
    logged = events(ours, "federation.login")
    assert len(logged) == 2 and logged[1].sub == sub and logged[1].detail["created"] is False
    with ours.home.engine.connect() as conn:
        links = conn.execute(select(federation_links_table)).all()
        audit_text = " ".join(str(r) for r in conn.execute(select(audit_table)).all())
    assert [(r.upstream, r.upstream_sub, r.sub) for r in links] == [(upstream.name, person.sub, sub)]
    assert number not in audit_text and number[:14] not in audit_text and "张三" not in audit_text


def test_a_relying_party_sign_in_goes_through_the_national_platform_and_back_to_the_authorization(ours, national):
    configure(ours, national)
    person, number = national.person(name="赵六", level=LOA[2])
    client, secret = ours.client(release=["verified_claims"])
    web = ours.app.test_client()
    verifier, challenge = pkce_pair()
    authorize = authorize_url(client.client_id, challenge, scope="openid verified_claims")
    to_login = web.get(authorize)
    assert to_login.status_code == 302 and to_login.headers["Location"].startswith("/login?")
    page = web.get(to_login.headers["Location"]).get_data(as_text=True)
    link = page.split('id="federation-national" href="')[1].split('"')[0].replace("&amp;", "&")
    started = web.get(link)
    assert started.status_code == 302
    back = web.get(at_national(national, started.headers["Location"], person.username))
    assert back.status_code == 302 and back.headers["Location"] == authorize
    code = code_from(through_consent(web, web.get(back.headers["Location"])))["code"]
    body = exchange(web, client.client_id, code, verifier, secret=secret).get_json()
    claims = jose.verify_jwt(body["id_token"], jwks(web), algorithms=["ES256"])[1]
    assert claims["acr"] == LOA[2] and claims["amr"] == ["fed"] and claims["nonce"] == "n-1"
    assert claims["verified_claims"]["claims"] == {"name": "赵六"}
    assert ours.app.extensions["yitong.idp"].identities.sub_for_id_number(number) == claims["sub"]


def test_an_existing_real_name_account_with_the_same_id_number_is_linked_never_by_name(ours, national):
    configure(ours, national)
    person, number = national.person(name="李四", level=LOA[3])
    identities = ours.app.extensions["yitong.idp"].identities
    mine = ours.accounts.create(username="lisi", password=PASSWORD)
    identities.bind(mine.sub, id_type="resident", name="李四", id_number=number,
                    trust_framework="cn_population_library", evidence={"type": "electronic_record"})
    ours.accounts.raise_level(mine.sub, LOA[2])
    namesake = ours.accounts.create(username="lisi2", password=PASSWORD, name="李四")  # same name, no identity
    before = count_users(ours)
    web = ours.app.test_client()
    assert federated_login(web, national, person.username).status_code == 302
    assert count_users(ours) == before
    assert ours.accounts.get(mine.sub).acr == LOA[3]  # raised to what the upstream asserts (cap loa:3)
    assert ours.accounts.get(namesake.sub).acr == LOA[1]
    assert identities.get(mine.sub).trust_framework == "cn_population_library"  # the binding is unchanged
    assert rp_id_token(ours, web)["sub"] == mine.sub


def test_the_level_is_capped_by_configuration(ours, national):
    configure(ours, national, max_acr=LOA[3])
    person, number = national.person(level=LOA[4])
    web = ours.app.test_client()
    assert federated_login(web, national, person.username).status_code == 302
    sub = ours.app.extensions["yitong.idp"].identities.sub_for_id_number(number)
    assert ours.accounts.get(sub).acr == LOA[3]
    assert rp_id_token(ours, web)["acr"] == LOA[3]
    assert events(ours, "federation.login")[-1].detail["acr"] == LOA[3]


def test_a_cap_of_loa_2_holds_even_for_a_certificate_level_upstream_person(ours, national):
    configure(ours, national, max_acr=LOA[2])
    person, _number = national.person(level=LOA[4])
    web = ours.app.test_client()
    assert federated_login(web, national, person.username).status_code == 302
    assert rp_id_token(ours, web)["acr"] == LOA[2]


# -- refusals ----------------------------------------------------------------------------------------------------
def test_an_upstream_asserting_no_verified_id_number_is_refused(ours, national):
    configure(ours, national, release=("verified_claims",))  # the national platform releases the name only
    person, _number = national.person()
    before = count_users(ours)
    web = ours.app.test_client()
    refused = federated_login(web, national, person.username)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 403 and "未提供经核验的身份证号码" in page
    assert "yitong_sso=" not in refused.headers.get("Set-Cookie", "")
    assert count_users(ours) == before
    assert events(ours, "federation.refused")[-1].detail["reason"] == "no_verified_id_number"
    assert events(ours, "federation.login") == []


def test_a_person_not_real_name_verified_upstream_is_refused(ours, national):
    configure(ours, national)
    person, _number = national.person(verified=False, level=LOA[1])
    refused = federated_login(ours.app.test_client(), national, person.username)
    assert refused.status_code == 403
    assert events(ours, "federation.refused")[-1].detail["reason"] == "no_verified_id_number"


def test_a_callback_with_a_state_this_browser_did_not_send_is_refused_and_state_is_single_use(ours, national):
    configure(ours, national)
    person, _number = national.person()
    victim, attacker = ours.app.test_client(), ours.app.test_client()
    callback = at_national(national, start(attacker), person.username)
    start(victim)  # the victim has a pending sign-in of their own
    forged = victim.get(callback)  # login CSRF: the attacker's code in the victim's browser
    assert forged.status_code == 400 and "yitong_sso=" not in forged.headers.get("Set-Cookie", "")
    assert events(ours, "federation.refused")[-1].detail["reason"] == "state_mismatch"
    assert attacker.get(callback).status_code == 302  # the right browser gets in, once
    assert attacker.get(callback).status_code == 400  # replayed: the state is used up
    no_state = victim.get("/login/federation/callback?code=abc")
    assert no_state.status_code == 400


def test_an_id_token_with_another_nonce_is_refused(ours, national):
    configure(ours, national)
    person, _number = national.person()
    web = ours.app.test_client()
    url = start(web)
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query["nonce"] = "a-nonce-this-browser-never-sent"
    refused = web.get(at_national(national, urlunsplit(parts._replace(query=urlencode(query))), person.username))
    assert refused.status_code == 400 and "yitong_sso=" not in refused.headers.get("Set-Cookie", "")
    detail = events(ours, "federation.refused")[-1].detail
    assert detail["reason"] == "invalid_response" and "nonce" in detail["detail"]
    assert events(ours, "federation.login") == []


def test_a_denial_at_the_upstream_and_a_foreign_iss_are_clear_pages(ours, national):
    configure(ours, national)
    person, _number = national.person()
    web = ours.app.test_client()
    denied = web.get(at_national(national, start(web), person.username, decision="deny"))
    assert denied.status_code == 400 and "未完成登录" in denied.get_data(as_text=True)
    assert events(ours, "federation.refused")[-1].detail["error"] == "access_denied"
    url = start(web)
    state = parse_qs(urlsplit(url).query)["state"][0]
    mixed = web.get("/login/federation/callback?" + urlencode({"state": state, "code": "x",
                                                              "iss": "https://evil.example"}))
    assert mixed.status_code == 400
    assert events(ours, "federation.refused")[-1].detail["reason"] == "issuer_mismatch"


def test_an_unreachable_upstream_is_a_try_later_page(ours, national):
    configure(ours, national, name="down", issuer=f"http://127.0.0.1:{free_port()}")
    started = ours.app.test_client().get("/login/federation/down")
    assert started.status_code == 502 and "请稍后再试" in started.get_data(as_text=True)
    assert events(ours, "federation.unavailable")[-1].detail["upstream"] == "down"
    assert ours.app.test_client().get("/login/federation/nosuch").status_code == 404


def test_a_wrong_client_secret_is_refused_at_the_upstream_token_endpoint(ours, national):
    client, _secret = national.client()
    ours.app.extensions["yitong.idp"].federation.add(
        name="national", label="国家政务服务平台", issuer=national.issuer, client_id=client.client_id,
        client_secret="not-the-secret", scope="openid profile verified_claims", max_acr=LOA[3])
    person, _number = national.person()
    web = ours.app.test_client()
    refused = web.get(at_national(national, start(web), person.username))
    assert refused.status_code == 400
    assert "invalid_client" in events(ours, "federation.refused")[-1].detail["detail"]


# -- the CLI -------------------------------------------------------------------------------------------------------
def test_the_cli_adds_lists_and_removes_upstreams_without_showing_secrets(ours, storage, tmp_path, national):
    from yitong.cli import cli

    env = {"YITONG_HOME": str(tmp_path / "home"), **storage.env(), "YITONG_ISSUER": ISSUER}
    runner = CliRunner()
    added = runner.invoke(cli, ["federation", "add", "gjzwfw", "--issuer", national.issuer + "/", "--client-id",
                                "yitong-tj", "--client-secret-stdin", "--max-level", LOA[3], "--claim",
                                "level=acr", "--level-map", "urn:gov:level:2=urn:yitong:loa:2", "--json"],
                          env=env, input="s3cret-at-upstream\n")
    assert added.exit_code == 0, added.output
    info = json.loads(added.stdout)
    assert info["redirect_uri"] == CALLBACK and info["issuer"] == national.issuer
    assert info["level_map"] == {"urn:gov:level:2": LOA[2]} and "s3cret" not in added.output
    listed = runner.invoke(cli, ["federation", "list", "--json"], env=env)
    assert listed.exit_code == 0 and "s3cret" not in listed.output
    assert [u["name"] for u in json.loads(listed.stdout)] == ["gjzwfw"]
    plain_http = runner.invoke(cli, ["federation", "add", "x1", "--issuer", "http://gov.example.cn", "--client-id",
                                     "c", "--client-secret-stdin"], env=env, input="s\n")
    assert plain_http.exit_code == 2 and "https" in plain_http.output
    assert runner.invoke(cli, ["federation", "remove", "gjzwfw"], env=env).exit_code == 0
    assert runner.invoke(cli, ["federation", "remove", "gjzwfw"], env=env).exit_code == 2
    assert [e.detail["upstream"] for e in events(ours, "federation.upstream_added")] == ["gjzwfw"]
