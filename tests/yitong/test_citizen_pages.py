"""Pages a citizen understands (issue 18): plain words for levels, methods and times; error pages
for browsers and problem+json for programs; the deployment's own look and footer; the landing
page for citizens with the technical index only for operators."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image
from werkzeug.exceptions import TooManyRequests

from tests.idp.support import login, make_idp
from yitong.settings import Settings, SettingsError

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
ENGLISH = {**BROWSER, "Accept-Language": "en-GB,en;q=0.9"}
FOOTER = {"YITONG_SITE_NAME": "天津市统一身份认证平台", "YITONG_SITE_NAME_EN": "Tianjin sign-in",
          "YITONG_SITE_ORGANISER": "天津市政务服务办公室", "YITONG_SITE_CONTACT": "zwfw@example.gov.cn",
          "YITONG_SITE_HOTLINE": "022-88908890", "YITONG_SITE_ICP": "津ICP备12345678号",
          "YITONG_SITE_PSB": "津公网安备 12010102000001号", "YITONG_SITE_GOV_CODE": "1200000001",
          "YITONG_SITE_COLOUR": "#0b4f8a"}


def png(width=64, height=64) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (11, 79, 138)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def idp(storage, tmp_path):
    logo = tmp_path / "logo.png"
    logo.write_bytes(png())
    idp = make_idp(storage, tmp_path, YITONG_SITE_LOGO=str(logo), **FOOTER)

    @idp.app.get("/test-only/boom")
    def boom():
        raise RuntimeError("an unexpected failure")

    @idp.app.get("/test-only/busy")
    def busy():
        raise TooManyRequests(retry_after=42)

    return idp


def alert_of(page: str) -> str:
    return re.search(r'role="alert"[^>]*>(.*?)</p>', page, re.S).group(1)


def test_a_browser_gets_a_page_in_its_language_and_a_program_gets_problem_json(idp):
    web = idp.app.test_client()
    page = web.get("/no-such-page", headers=BROWSER)
    body = page.get_data(as_text=True)
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "页面不存在" in body and 'id="error-back" href="/"' in body and 'id="site-home"' in body
    assert "津ICP备12345678号" in body  # the site frame: its footer on the error page too
    english = web.get("/no-such-page", headers=ENGLISH).get_data(as_text=True)
    assert "Page not found" in english and "Back to the home page" in english and '<html lang="en">' in english
    api = web.get("/no-such-page", headers={"Accept": "application/json"})
    assert api.status_code == 404 and api.mimetype == "application/problem+json" and api.get_json()["status"] == 404
    assert web.get("/no-such-page").mimetype == "application/problem+json"  # curl's */*


def test_a_429_page_says_how_long_to_wait_and_a_500_page_gives_the_request_id(idp):
    web = idp.app.test_client()
    busy = web.get("/test-only/busy", headers=BROWSER)
    assert busy.status_code == 429 and "请等待 42 秒后再试" in alert_of(busy.get_data(as_text=True))
    assert web.get("/test-only/busy", headers=ENGLISH).get_data(as_text=True).count("wait 42 seconds") == 1
    broken = web.get("/test-only/boom", headers=BROWSER)
    body = broken.get_data(as_text=True)
    request_id = broken.headers["X-Request-Id"]
    assert broken.status_code == 500 and broken.mimetype == "text/html" and f"请求编号 {request_id}" in body
    assert "RuntimeError" not in body and "Traceback" not in body and "an unexpected failure" not in body
    api = web.get("/test-only/boom", headers={"Accept": "application/json"})
    assert api.status_code == 500 and api.get_json()["request_id"] == api.headers["X-Request-Id"]
    assert api.headers["X-Request-Id"] != request_id


def test_an_authorization_error_that_cannot_go_back_is_a_sentence_with_a_way_back(idp):
    client, _ = idp.client()
    web = idp.app.test_client()
    wrong = web.get(f"/authorize?client_id={client.client_id}&response_type=code&scope=openid"
                    "&redirect_uri=https://evil.example/cb", headers=BROWSER)
    body = wrong.get_data(as_text=True)
    assert wrong.status_code == 400 and "Location" not in wrong.headers
    assert "返回地址未登记" in alert_of(body) and "invalid_request" not in alert_of(body)
    assert 'id="error-back" href="http://127.0.0.1:9000/"' in body and "返回Test portal" in body  # registered origin
    assert 'id="error-technical"' in body  # the code, folded, for whoever helps
    unknown = web.get("/authorize?client_id=nobody&response_type=code&redirect_uri=https://evil.example/cb",
                      headers=ENGLISH).get_data(as_text=True)
    assert "not registered with us" in unknown and 'id="error-back" href="/"' in unknown and "evil.example/" not in \
        unknown.split('id="error-back"')[1].split(">")[0]


@pytest.mark.parametrize(("zone", "shift"), [("Asia/Shanghai", 8), ("UTC", 0)])
def test_levels_methods_and_times_are_words_in_the_deployment_time_zone(storage, tmp_path, zone, shift):
    idp = make_idp(storage, tmp_path, YITONG_TIME_ZONE=zone)
    idp.accounts.create(username="alice", password="Tianjin-2026-correct")
    web = idp.app.test_client()
    login(web, "alice")
    page = web.get("/account").get_data(as_text=True)
    assert "基础账号" in page and "无需实名的事项" in page and ">urn:yitong:loa" not in page
    sessions = page.split('id="session-list"')[1].split("</ul>")[0]
    assert "密码" in sessions and "pwd" not in sessions
    started = re.search(r"登录于 (\d{4}-\d{2}-\d{2} \d{2}:\d{2})", sessions).group(1)
    now = datetime.now(UTC) + timedelta(hours=shift)
    assert abs((datetime.strptime(started, "%Y-%m-%d %H:%M") - now.replace(tzinfo=None)).total_seconds()) < 120
    english = web.get("/account?lang=en").get_data(as_text=True)
    assert "Basic account" in english and "password" in english.split('id="session-list"')[1]


def test_every_page_carries_the_site_name_colour_and_footer_and_the_logo_is_served(idp):
    web = idp.app.test_client()
    for path in ("/", "/login", "/register", "/password/reset"):
        page = web.get(path).get_data(as_text=True)
        assert "天津市统一身份认证平台" in page and "--brand: #0b4f8a" in page, path
        for item in ("天津市政务服务办公室", "zwfw@example.gov.cn", 'href="tel:022-88908890"', "津ICP备12345678号",
                     "津公网安备 12010102000001号", "1200000001"):
            assert item in page, (path, item)
        assert '<img src="/site/logo"' in page
    logo = web.get("/site/logo")
    assert logo.status_code == 200 and logo.mimetype == "image/png" and logo.data == png()
    assert "Tianjin sign-in" in web.get("/login?lang=en").get_data(as_text=True)


def test_without_footer_settings_nothing_empty_is_shown(storage, tmp_path):
    page = make_idp(storage, tmp_path).app.test_client().get("/login").get_data(as_text=True)
    assert "主办单位" not in page and "ICP" not in page and "服务热线" not in page and "/site/logo" not in page


@pytest.mark.parametrize(("env", "message"), [
    ({"YITONG_SITE_COLOUR": "red; background: url(x)"}, "YITONG_SITE_COLOUR"),
    ({"YITONG_TIME_ZONE": "Mars/Olympus"}, "unknown time zone"),
    ({"YITONG_SITE_GOV_CODE": "12"}, "10-character"),
    ({"YITONG_SITE_LOGO": "/no/such/logo.png"}, "cannot read"),
])
def test_bad_look_settings_stop_with_one_line(tmp_path, env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"YITONG_HOME": str(tmp_path), **env})


def test_a_logo_must_be_a_small_png_or_jpeg(tmp_path):
    svg = tmp_path / "logo.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    with pytest.raises(SettingsError, match="PNG or JPEG"):
        Settings.from_env({"YITONG_HOME": str(tmp_path), "YITONG_SITE_LOGO": str(svg)})
    big = tmp_path / "big.png"
    big.write_bytes(png(1200, 1200) + bytes(70_000))
    with pytest.raises(SettingsError, match="at most"):
        Settings.from_env({"YITONG_HOME": str(tmp_path), "YITONG_SITE_LOGO": str(big)})


def test_the_landing_page_is_for_citizens_and_the_technical_index_for_operators(idp):
    web = idp.app.test_client()
    landing = web.get("/").get_data(as_text=True)
    assert 'href="/login"' in landing and 'href="/register"' in landing and 'href="/verify/"' in landing
    assert "强实名" in landing and "/.well-known/openid-configuration" not in landing
    assert 'href="/technical"' in landing and "/.well-known/openid-configuration" in web.get("/technical").get_data(
        as_text=True)  # the test client is 127.0.0.1: this machine
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    assert 'href="/technical"' not in web.get("/", environ_base=remote).get_data(as_text=True)
    assert web.get("/technical", environ_base=remote, headers=BROWSER).status_code == 404



def test_sign_in_and_consent_name_the_asking_service_with_its_logo_and_the_masked_account(idp):
    from tests.idp.support import authorize_url, pkce_pair

    client, _ = idp.client()
    idp.clients.set_logo(client.client_id, png(96, 96))
    idp.accounts.create(username=None, phone="13812345678", password="Tianjin-2026-correct")
    web = idp.app.test_client()
    asked = authorize_url(client.client_id, pkce_pair()[1])
    to_login = web.get(asked)
    login_page = web.get(to_login.headers["Location"]).get_data(as_text=True)
    assert "您将登录" in login_page and 'id="asking-client-name">Test portal<' in login_page
    logo_url = f"/clients/{client.client_id}/logo"
    assert f'<img src="{logo_url}"' in login_page
    logo = web.get(logo_url)
    assert logo.status_code == 200 and logo.mimetype == "image/png" and logo.data == png(96, 96)
    assert web.get("/clients/nobody/logo", headers=BROWSER).status_code == 404
    login(web, "13812345678", return_to=asked)
    consent = web.get(asked).get_data(as_text=True)
    assert 'action="/consent"' in consent and 'id="asking-client-name">Test portal<' in consent
    assert "138****5678" in consent and "13812345678" not in consent
    switch = consent.split('id="switch-account" href="')[1].split('"')[0].replace("&amp;", "&")
    assert switch.startswith("/login?return_to=%2Fauthorize%3F") and "不是您？切换账号" in consent
    idp.accounts.create(username="bob", password="Tianjin-2026-correct")
    web.get(switch)
    login(web, "bob", return_to=asked)
    assert "bob" in web.get(asked).get_data(as_text=True).split('id="signed-in-as"')[1].split("</p>")[0]


def test_a_client_logo_must_be_a_small_png_or_jpeg(idp):
    from idp.oauth.clients import ClientError

    client, _ = idp.client()
    for bad, message in ((b"<svg xmlns='http://www.w3.org/2000/svg'/>", "not a readable"),
                         (png(2000, 10), "at most 1024"), (bytes(70_000), "at most 65536")):
        with pytest.raises(ClientError, match=message):
            idp.clients.set_logo(client.client_id, bad)
    gif = io.BytesIO()
    Image.new("P", (8, 8)).save(gif, "GIF")
    with pytest.raises(ClientError, match="PNG or JPEG, not GIF"):
        idp.clients.set_logo(client.client_id, gif.getvalue())
    idp.clients.set_logo(client.client_id, png())
    idp.clients.set_logo(client.client_id, None)
    assert idp.clients.logo(client.client_id) is None


def test_the_authenticator_page_has_a_qr_code_a_grouped_key_and_no_phone_number(idp):
    import pyotp
    import segno

    idp.accounts.create(username=None, phone="13812345678", password="Tianjin-2026-correct")
    web = idp.app.test_client()
    login(web, "13812345678")
    page = web.get("/account/mfa").get_data(as_text=True)
    secret = page.split('data-secret="')[1].split('"')[0]
    expected_uri = pyotp.TOTP(secret).provisioning_uri(name="138****5678", issuer_name="Yitong 一通")
    svg = segno.make(expected_uri, error="m").svg_inline(scale=5, title="动态验证码二维码")
    assert svg in page and "<svg" in page.split('id="totp-qr"')[1][:80]
    assert "13812345678" not in page and "otpauth://" not in page  # no raw link to overflow a phone screen
    grouped = page.split('id="totp-secret"')[1].split(">")[1].split("<")[0]
    assert grouped == " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)) and " " in grouped
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    done = web.post("/account/mfa", data={"csrf": csrf, "code": pyotp.TOTP(secret).now()}).get_data(as_text=True)
    codes = re.findall(r"<li><code>([^<]+)</code></li>", done)
    assert len(codes) >= 8 and 'id="recovery-explained"' in done and 'id="mfa-continue" href="/account"' in done
    download = done.split('id="download-codes" download="recovery-codes.txt"')[1].split('href="')[1].split('"')[0]
    from urllib.parse import unquote_plus

    text = unquote_plus(download.removeprefix("data:text/plain;charset=utf-8,"))
    assert all(code in text.splitlines() for code in codes)
    assert 'id="print-codes"' in done and "window.print()" in done.split("<script nonce=")[1]


def test_passkey_requests_that_cannot_be_checked_get_a_clear_answer(storage, tmp_path):
    import json

    idp = make_idp(storage, tmp_path, YITONG_ISSUER="http://localhost:8000")
    web = idp.app.test_client()
    page = web.get("/login").get_data(as_text=True)
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    assert 'id="passkey-sign-in"' in page
    assert web.post("/login/passkey/options", data={"csrf": "wrong"}).status_code == 403
    options = web.post("/login/passkey/options", data={"csrf": csrf}).get_json()
    assert options["rpId"] == "localhost" and options["userVerification"] == "required" and options["challenge"]
    unknown = web.post("/login/passkey", data={"csrf": csrf, "credential": json.dumps({"id": "bm9wZQ"})})
    assert unknown.status_code == 401 and "未在本平台登记" in unknown.get_json()["error"]
    web.post("/login/passkey/options", data={"csrf": csrf})
    garbage = web.post("/login/passkey", data={"csrf": csrf, "credential": "not json"})
    assert garbage.status_code == 401 and "yitong_sso" not in garbage.headers.get("Set-Cookie", "")


def test_an_ip_address_issuer_offers_no_passkeys(idp):
    idp.accounts.create(username="alice", password="Tianjin-2026-correct")
    web = idp.app.test_client()
    login(web, "alice")
    page = web.get("/account/passkeys").get_data(as_text=True)
    assert 'id="passkey-unavailable"' in page and 'id="passkey-add"' not in page
    assert 'id="passkey-sign-in"' not in web.get("/login").get_data(as_text=True)
    csrf = web.get("/account").get_data(as_text=True).split('name="csrf" value="')[1].split('"')[0]
    assert web.post("/account/passkeys/options", data={"csrf": csrf}).status_code == 403


def test_chromium_navigation_accept_header_gets_the_html_page(idp):
    chromium = ("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
                "application/signed-exchange;v=b3;q=0.7")
    page = idp.app.test_client().get("/no-such-page", headers={"Accept": chromium})
    assert page.status_code == 404 and page.mimetype == "text/html"
