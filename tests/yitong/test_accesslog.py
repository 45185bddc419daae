"""What `yitong serve` writes in its logs (issue 12, item 4): a full sign-in journey through the
real server, then every ID number, phone number, token, code and secret of it is searched for in
everything the server printed (gunicorn's access and error logs, and the app's own loggers)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from idp.assurance import ID_NUMBER_CLAIM
from tests.baselib.server import ZHANG
from tests.helpers import check_run, run_yitong
from tests.idp.support import bind_population_identity
from tests.yitong.web_support import PASSWORD, Browser, serve
from yitong.accesslog import redact_query, redact_url

pytestmark = pytest.mark.e2e

PHONE = "13912345678"
RP = "http://127.0.0.1:9/cb"


def _prepare(env: dict) -> dict:
    check_run(run_yitong(["db", "upgrade"], env), "db upgrade")
    user = json.loads(check_run(run_yitong(["user", "create", "--username", "zhang", "--phone", PHONE,
                                            "--password-stdin", "--json"], env, input=f"{PASSWORD}\n".encode()),
                                "user create"))
    bind_population_identity(env, user["sub"], *ZHANG)
    return json.loads(check_run(run_yitong(
        ["client", "create", "--name", "Portal", "--redirect-uri", RP, "--post-logout-redirect-uri", RP + "/bye",
         "--grant", "authorization_code", "--grant", "refresh_token",
         "--scope", "openid profile phone verified_claims offline_access",
         "--release", "verified_claims", "--release", "id_number", "--json"], env), "client create"))


def _journey(browser: Browser, client: dict, *, logout: bool = True) -> list[str]:
    """Sign in, consent, code, tokens, userinfo, refresh, logout with id_token_hint; returns the secrets seen
    (the last one: the refresh token the refresh handed out, which logging out revokes)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    authorize = "/authorize?" + urlencode({
        "response_type": "code", "client_id": client["client_id"], "redirect_uri": RP, "state": state,
        "nonce": nonce, "scope": "openid profile phone verified_claims offline_access", "login_hint": PHONE,
        "code_challenge": challenge, "code_challenge_method": "S256"})
    status, headers, _ = browser.request("GET", authorize)
    assert status == 302 and headers["location"].startswith("/login?")
    status, headers, page = browser.login(browser.login_form(authorize), PHONE, PASSWORD, return_to=authorize)
    assert status == 302, page
    status, headers, page = browser.request("GET", headers["location"])
    if status == 200 and 'action="/consent"' in page:
        csrf = page.split('name="csrf" value="')[1].split('"')[0]
        return_to = page.split('name="return_to" value="')[1].split('"')[0].replace("&amp;", "&")
        status, headers, _ = browser.request("POST", "/consent", form={"csrf": csrf, "return_to": return_to,
                                                                      "decision": "allow"})
        status, headers, page = browser.request("GET", headers["location"])
    assert status == 302 and headers["location"].startswith(RP), page
    code = parse_qs(urlsplit(headers["location"]).query)["code"][0]

    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    auth = {"Authorization": f"Basic {basic}"}
    status, _, body = browser.request("POST", "/token", headers=auth, form={
        "grant_type": "authorization_code", "code": code, "redirect_uri": RP, "code_verifier": verifier})
    assert status == 200, body
    tokens = json.loads(body)
    claims = json.loads(base64.urlsafe_b64decode(tokens["id_token"].split(".")[1] + "=="))
    assert claims["verified_claims"]["claims"][ID_NUMBER_CLAIM] == ZHANG[1]  # the ID token carries the ID number
    assert claims["phone_number"].endswith(PHONE)
    status, _, body = browser.request("GET", "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert status == 200, body
    status, _, body = browser.request("POST", "/token", headers=auth, form={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert status == 200, body
    refreshed = json.loads(body)
    if logout:
        status, headers, page = browser.request("GET", "/logout?" + urlencode({
            "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": RP + "/bye", "state": state}))
        assert status in (200, 302), page
    return [ZHANG[1], PHONE, PASSWORD, client["client_secret"], code, verifier, state, nonce,
            tokens["id_token"], tokens["access_token"], tokens["refresh_token"], refreshed["access_token"],
            refreshed["refresh_token"]]


def test_a_full_journey_leaves_no_id_number_phone_token_or_code_in_the_server_logs(yitong_env, tmp_path):
    client = _prepare(yitong_env)
    log = tmp_path / "server.log"
    with serve(yitong_env, log) as base:
        used = _journey(Browser(base), client)
    printed = log.read_text(errors="replace")
    assert "GET /logout?id_token_hint=REDACTED" in printed  # the requests were logged...
    assert "POST /token" in printed and "client_id=" + client["client_id"] in printed
    for value in used:  # ...without any of what they carried
        assert value not in printed, f"{value[:12]}... is in the server's output"


def test_the_redaction_keeps_names_and_harmless_values_only():
    assert redact_query("code=abc&state=s1&client_id=portal") == "code=REDACTED&state=REDACTED&client_id=portal"
    assert redact_query("") == ""
    assert redact_url("/cas/serviceValidate?ticket=ST-1&service=https%3A%2F%2Fp.example%2F%3Fx%3D1") == \
        "/cas/serviceValidate?ticket=REDACTED&service=REDACTED"
    assert redact_url("https://rp.example/cb#code=abc&state=x") == "https://rp.example/cb#REDACTED"
    assert redact_url("-") == "-"
