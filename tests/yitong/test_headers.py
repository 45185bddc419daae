"""Security headers, the landing page and the home's file modes (issue 12, item 6)."""

from __future__ import annotations

import re
import stat

import pytest

from tests.helpers import check_run, run_yitong
from tests.idp.support import ISSUER, PASSWORD, make_idp
from tests.idp.support import login as sign_in
from yitong.app import create_app
from yitong.settings import Settings

# Every HTML page of the IdP that a browser opens by GET without arguments, signed in.
PAGES = ("/login", "/login/certificate", "/login/licence", "/register", "/signup/account", "/privacy",
         "/password/reset", "/account", "/account/mfa", "/account/phone", "/account/data", "/account/organisations",
         "/account/realname", "/account/agents", "/", "/baselib/")


@pytest.fixture
def idp(storage, tmp_path):
    return make_idp(storage, tmp_path)


def nonce_of(csp: str) -> str:
    found = re.search(r"script-src 'nonce-([A-Za-z0-9_-]+)'", csp)
    assert found and f"style-src 'nonce-{found.group(1)}'" in csp, csp
    return found.group(1)


def test_html_pages_forbid_framing_and_inline_code_without_this_responses_nonce_and_are_not_stored(idp):
    idp.accounts.create(username="alice", password=PASSWORD)
    web = idp.app.test_client()
    assert sign_in(web, "alice").status_code == 302
    seen = set()
    for path in PAGES:
        response = web.get(path)
        if response.mimetype != "text/html":
            continue
        seen.add(path)
        headers = response.headers
        csp = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp, path
        assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["Referrer-Policy"] == "no-referrer", path
        assert "no-store" in headers["Cache-Control"], path
        assert "Strict-Transport-Security" not in headers  # an http issuer
        page = response.get_data(as_text=True)
        nonce = nonce_of(csp)
        for tag in re.findall(r"<(?:script|style)\b[^>]*>", page):  # inline code carries the nonce...
            assert f'nonce="{nonce}"' in tag, (path, tag)
        assert not re.search(r"\s(?:style|on[a-z]+)=", page), path  # ...and there is none CSP cannot allow
    assert {"/login", "/account", "/account/mfa", "/account/data", "/"} <= seen
    other = web.get("/login").headers["Content-Security-Policy"]
    assert nonce_of(other) != nonce_of(web.get("/login").headers["Content-Security-Policy"])  # one per response


def test_the_totp_secret_page_is_never_stored(idp):
    idp.accounts.create(username="alice", password=PASSWORD)
    web = idp.app.test_client()
    sign_in(web, "alice")
    page = web.get("/account/mfa")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"


def test_an_https_issuer_adds_hsts_everywhere(storage, tmp_path):
    idp = make_idp(storage, tmp_path, YITONG_ISSUER="https://id.example.gov.cn")
    web = idp.app.test_client()
    for path in ("/login", "/.well-known/openid-configuration", "/healthz"):
        assert web.get(path).headers["Strict-Transport-Security"] == "max-age=31536000", path


def test_the_seal_openapi_document_names_the_configured_server_whatever_the_request_says(idp):
    response = idp.app.test_client().get("/seal/openapi.json", headers={
        "Host": "evil.example", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"})
    document = response.get_json()
    assert document["servers"] == [{"url": f"{ISSUER}/seal"}]
    flows = document["components"]["securitySchemes"]["oauth2"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == f"{ISSUER}/token"
    assert "evil.example" not in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "public, max-age=300"


def test_method_not_allowed_names_the_allowed_methods(idp):
    web = idp.app.test_client()
    response = web.put("/token")
    assert response.status_code == 405 and response.mimetype == "application/problem+json"
    assert "POST" in response.headers["Allow"]
    page = web.delete("/login", headers={"Accept": "text/html"})
    assert page.status_code == 405 and {"GET", "POST"} <= set(page.headers["Allow"].replace(" ", "").split(","))


def test_the_landing_page_shows_no_paths_versions_or_database(tmp_path):
    from keys.sm2 import get_backend
    from yitong.home import Home

    settings = Settings.from_env({"YITONG_HOME": str(tmp_path / "home")})
    Home(settings).initialise(with_pki=False)
    web = create_app(settings).test_client()
    page = web.get("/", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'href="/login"' in page and 'href="/verify/"' in page and 'href="/technical"' in page  # from loopback
    page += web.get("/technical", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert ISSUER in page
    backend = get_backend(settings.sm2_backend)
    for secret in (str(tmp_path), "yitong.db", "SQLite", backend.version, "OpenSSL"):
        assert secret not in page, secret


def test_a_fresh_home_is_the_operators_only(yitong_env, tmp_path):
    check_run(run_yitong(["db", "upgrade"], yitong_env), "db upgrade")
    home = tmp_path / "home"
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    files = [p for p in home.rglob("*")]
    assert {"yitong.db", "master.key"} <= {p.name for p in files} and any(p.suffix == ".pem" for p in files)
    for path in files:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path.relative_to(home)} is {oct(mode)}"
