"""Browser end to end: a person on a phone signs in to a portal through Yitong, in Debian's Chromium.

Playwright for Python drives ``/usr/bin/chromium`` (Debian's package; ``playwright install`` is never
used, the pip package only brings the driver) at phone size (375×812, touch, zh-CN). The portal is
``tests/e2e/rp.py``, a tiny relying party that does the code flow with PKCE and validates the ID
token itself. The journey, with what the person sees checked at every step:

1. the portal says 未登录; they tap 登录 and land on Yitong's sign-in page (labelled inputs, the
   button fully on screen, no sideways scrolling; screenshot ``login-phone.png``);
2. they sign in with the username and password made by ``yitong user create --password-stdin``;
3. first time for this portal: the consent page names the portal and what it asks for; they tap
   同意 (screenshot ``consent-phone.png``);
4. back at the portal's callback, which shows the ``sub`` of the ID token it validated;
5. they turn on two-step verification at ``/account/mfa`` (secret in ``#totp-secret``, code from
   pyotp, recovery codes in ``#recovery-codes``);
6. they sign out through the portal (RP-initiated logout with ``id_token_hint``,
   ``post_logout_redirect_uri`` and ``state``) and the portal says 已退出;
7. they sign in again: the password is not enough any more, Yitong asks for the authenticator code
   at ``/login/mfa`` (screenshot ``mfa-phone.png``); consent is remembered, so they are straight back
   at the portal, as the same ``sub``.

Over HTTPS, as in production: the IdP serves https://127.0.0.1 with a certificate from its own
p256-issuing CA (the TLS helper in tests/helpers.py) and sets its cookies Secure; Chromium trusts
our P-256 root through an NSS database made with ``certutil`` (Debian's libnss3-tools, installed by
.ci/run) in a throw-away ``$HOME/.pki/nssdb`` — no ``--ignore-certificate-errors``, which would test
nothing about TLS. The portal stays on http://localhost (two hosts, so two cookie jars, as a real
portal and IdP have; loopback origins are potentially trustworthy to Chromium).

At step 6 the IdP also tells the portal over the back channel (OIDC Back-Channel Logout 1.0): the
portal's ``/bcl`` validates the logout token and the test checks that it names the session that
signed in at step 4. At step 7 the ID token says how the person signed in (``amr`` pwd + otp).

Not covered yet:

- TODO: a sign-in with a recovery code, and refusing consent (拒绝 Deny -> access_denied).
"""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest

from tests.e2e.rp import RelyingParty
from tests.helpers import (
    CI,
    check_run,
    clean_env,
    free_port,
    issue_tls_server_certificate,
    require_tool,
    run_yitong,
    wait_until_healthy,
)
from tests.interop.harness import yitong_exe
from tests.interop.test_openid_client import PASSWORD

try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # in the test extra; the fixture below says what is missing
    sync_playwright = None

pytestmark = [pytest.mark.e2e]

CHROMIUM = "/usr/bin/chromium"  # Debian's package; never a browser downloaded by `playwright install`
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PHONE = {"width": 375, "height": 812}
USERNAME = "wangfang"
PORTAL = "示例门户"


@dataclass
class Site:
    issuer: str
    rp: RelyingParty
    sub: str
    log: Path
    ca_file: Path


def _unavailable(message: str) -> None:
    """Like tests.helpers.require_tool: skip locally, FAIL under CI (never a silent pass)."""
    if CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def site(tmp_path):
    """`yitong serve` over HTTPS on a fresh home with one person, and the portal registered (CLI)."""
    issuer = f"https://127.0.0.1:{free_port()}"
    env = clean_env()
    env.update(YITONG_HOME=str(tmp_path / "home"), YITONG_ISSUER=issuer)
    check_run(run_yitong(["db", "upgrade"], env), "yitong db upgrade")
    chain, key, ca_file = issue_tls_server_certificate(env, tmp_path)
    user = json.loads(check_run(run_yitong(["user", "create", "--username", USERNAME, "--password-stdin", "--json"],
                                           env, input=f"{PASSWORD}\n".encode()), "yitong user create"))
    rp = RelyingParty(issuer, ca_file=str(ca_file))  # bound now: its URIs are known before it is registered
    client = json.loads(check_run(run_yitong(
        ["client", "create", "--name", PORTAL, "--redirect-uri", rp.redirect_uri,
         "--post-logout-redirect-uri", rp.post_logout_redirect_uri,
         "--backchannel-logout-uri", rp.backchannel_logout_uri, "--grant", "authorization_code",
         "--scope", "openid profile", "--json"], env), "yitong client create"))
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen([yitong_exe(), "serve", "--port", issuer.rsplit(":", 1)[1],
                                    "--certfile", str(chain), "--keyfile", str(key)], env=env,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_healthy(process, issuer, log.read_text, context=ssl.create_default_context(cafile=str(ca_file)))
        rp.start(client["client_id"], client["client_secret"])
        yield Site(issuer, rp, user["sub"], log, ca_file)
    finally:
        rp.stop()
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        # Shown only when the test fails.
        print(f"portal errors: {rp.errors}\nportal log: {rp.log[-20:]}\nserver log (tail):\n{log.read_text()[-3000:]}")


def browser_home(tmp_path: Path, ca_file: Path) -> Path:
    """A $HOME whose NSS database (~/.pki/nssdb, where Chromium on Linux looks) trusts ``ca_file``."""
    certutil = require_tool("certutil")
    home = tmp_path / "browser-home"
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    check_run(subprocess.run([certutil, "-N", "-d", f"sql:{nssdb}", "--empty-password"], capture_output=True),
              "certutil -N")
    check_run(subprocess.run([certutil, "-A", "-d", f"sql:{nssdb}", "-n", "Yitong test P-256 root", "-t", "C,,",
                              "-i", str(ca_file)], capture_output=True), "certutil -A")
    return home


@pytest.fixture
def phone(site, tmp_path):
    """A phone-sized, touch, zh-CN page in Debian's Chromium that trusts the site's test CA."""
    if sync_playwright is None:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).is_file():
        _unavailable(f"{CHROMIUM} is not installed (Debian package chromium); .ci/run installs it")
    with sync_playwright() as playwright:
        env = {**os.environ, "HOME": str(browser_home(tmp_path, site.ca_file))}
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=env)
        try:
            context = browser.new_context(viewport=PHONE, screen=PHONE, is_mobile=True, has_touch=True,
                                          device_scale_factor=2, locale="zh-CN", timezone_id="Asia/Shanghai")
            context.set_default_timeout(10_000)
            context.add_init_script(RECORD_CSP_VIOLATIONS)
            yield context.new_page()
        finally:
            browser.close()


def at(page: Page, url: str) -> None:
    """Wait until the browser is at ``url`` (a prefix: a query may follow)."""
    expect(page).to_have_url(re.compile("^" + re.escape(url) + r"(\?.*)?$"))


# Collects what the page's Content-Security-Policy blocked (an inline style or script without
# the response's nonce would leave the page unstyled or inert): installed before the page's own code.
RECORD_CSP_VIOLATIONS = ("window.__cspViolations = []; document.addEventListener('securitypolicyviolation', "
                         "e => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));")


def assert_fits_phone(page: Page, *controls) -> None:
    """No sideways scrolling, each control fully on the first screen, nothing blocked by the CSP."""
    assert page.evaluate("window.__cspViolations || []") == [], f"{page.url}: the CSP blocked something"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} scrolls sideways on a phone: {width} px wide"
    for control in controls:
        expect(control).to_be_visible()
        box = control.bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], f"{control} is cut off: {box}"
        assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], f"{control} is below the fold: {box}"


def sign_in_with_password(page: Page, site: Site) -> None:
    at(page, f"{site.issuer}/login")
    page.get_by_label("用户名或手机号").fill(USERNAME)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()


def test_on_a_phone_sign_in_consent_enrol_totp_sign_out_and_sign_in_again_with_the_code(phone, site, tmp_path):
    page, rp, issuer = phone, site.rp, site.issuer

    # 1. The portal: not signed in; 登录 leads to Yitong's sign-in page.
    page.goto(rp.base + "/")
    expect(page.locator("#status")).to_contain_text("未登录")
    page.get_by_role("link", name="登录").click()
    at(page, f"{issuer}/login")
    expect(page).to_have_title(re.compile("登录"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("统一身份认证")
    expect(page.get_by_label("用户名或手机号")).to_have_id("login")  # every input has a label
    expect(page.get_by_label("密码")).to_have_id("password")
    expect(page.get_by_label("密码")).to_have_attribute("type", "password")
    expect(page.locator("#login")).to_be_focused()  # the keyboard is ready for the username
    assert_fits_phone(page, page.locator("#login"), page.locator("#password"),
                      page.get_by_role("button", name="登录"))
    page.screenshot(path=tmp_path / "login-phone.png", full_page=True)

    # 2-3. Password, then consent the first time: the portal's name and what it asks for.
    sign_in_with_password(page, site)
    at(page, f"{issuer}/authorize")
    expect(page.get_by_role("heading", level=1)).to_contain_text("授权确认")
    expect(page.locator("main")).to_contain_text(f"{PORTAL} 请求访问")
    expect(page.get_by_role("listitem")).to_have_text([re.compile("确认您的身份"), re.compile("用户名和姓名")])
    allow, deny = page.get_by_role("button", name="同意"), page.get_by_role("button", name="拒绝")
    expect(allow).to_have_attribute("value", "allow")
    assert_fits_phone(page, allow, deny)
    page.screenshot(path=tmp_path / "consent-phone.png", full_page=True)
    allow.click()

    # 4. Back at the portal's callback, which validated the ID token and shows its sub.
    at(page, f"{rp.base}/cb")
    expect(page.locator("#status")).to_contain_text("登录成功")
    expect(page.locator("#sub")).to_have_text(site.sub)
    expect(page.locator("#preferred_username")).to_have_text(USERNAME)
    assert [claims["sub"] for claims in rp.sign_ins] == [site.sub] and rp.errors == []
    sso = {cookie["name"]: cookie for cookie in page.context.cookies(issuer)}["yitong_sso"]
    assert sso["secure"] and sso["httpOnly"] and sso["sameSite"] == "Lax", sso  # over https: Secure

    # 5. Turn on two-step verification: the key is shown, one code confirms it, recovery codes appear once.
    page.goto(f"{issuer}/account/mfa")
    expect(page.get_by_role("heading", level=1)).to_contain_text("两步验证")
    secret = page.locator("#totp-secret").get_attribute("data-secret")
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret), secret
    page.get_by_label("应用显示的6位数字").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="启用").click()
    expect(page.locator("main")).to_contain_text("已启用")
    codes = page.locator("#recovery-codes li")
    expect(codes).not_to_have_count(0)
    assert all(re.fullmatch(r"[0-9a-z]{4}(-[0-9a-z]{4})+", code.strip()) for code in codes.all_inner_texts())

    # 6. Sign out through the portal: RP-initiated logout, back at the registered post-logout URI.
    page.goto(rp.base + "/")
    expect(page.locator("#sub")).to_have_text(site.sub)
    page.get_by_role("link", name="退出").click()
    at(page, f"{rp.base}/bye")
    expect(page.locator("#status")).to_contain_text("已退出")
    assert "yitong_sso" not in {cookie["name"] for cookie in page.context.cookies(issuer)}  # Yitong forgot them
    first_sid = rp.sign_ins[0]["sid"]
    deadline = time.monotonic() + 10  # delivered by a background job, right after the logout
    while not rp.backchannel_logouts and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [(t["sid"], t["sub"]) for t in rp.backchannel_logouts] == [(first_sid, site.sub)], rp.errors
    assert rp.errors == []

    # 7. Sign in again: Yitong's session ended, so the password is asked for, then the authenticator code.
    page.get_by_role("link", name="登录").click()
    sign_in_with_password(page, site)
    at(page, f"{issuer}/login/mfa")
    expect(page.get_by_role("heading", level=1)).to_contain_text("两步验证")
    code_box = page.get_by_label("动态验证码或恢复码")
    expect(code_box).to_have_id("code")
    assert_fits_phone(page, code_box, page.get_by_role("button", name="验证"))
    page.screenshot(path=tmp_path / "mfa-phone.png", full_page=True)
    code_box.fill(pyotp.TOTP(secret).at(time.time() + 30))  # the next step's code: enrolment spent this one
    page.get_by_role("button", name="验证").click()
    at(page, f"{rp.base}/cb")  # consent is remembered: no consent page this time
    expect(page.locator("#status")).to_contain_text("登录成功")
    expect(page.locator("#sub")).to_have_text(site.sub)
    first, second = rp.sign_ins
    assert second["sub"] == first["sub"] and second["sid"] != first["sid"]
    assert first["amr"] == ["pwd"] and second["amr"] == ["pwd", "otp"]  # RFC 8176 method references
    assert second["auth_time"] >= first["auth_time"] and rp.errors == []
