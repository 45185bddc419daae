"""Pages a citizen understands (issue 18), in Debian's Chromium driven by Playwright: passkeys
registered and used with Chromium's virtual authenticator (DevTools protocol ``WebAuthn`` domain),
passwordless and as the second factor of a loa:3 account.

The app runs in this process (werkzeug's threaded server) at ``http://localhost:<port>``: WebAuthn
needs a secure context and a domain as the relying-party id, and Chromium counts
``http://localhost`` as secure; one browser serves the module.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from idp.acr import LOA_3
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, RECORD_CSP_VIOLATIONS, _unavailable
from tests.helpers import free_port
from yitong.app import create_app
from yitong.home import Home
from yitong.settings import Settings

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:
    sync_playwright = None

pytestmark = [pytest.mark.e2e]
PASSWORD = "Tianjin-2026-correct"


class Server:
    def __init__(self, home_dir: Path) -> None:
        port = free_port()
        self.base = f"http://localhost:{port}"
        env = {"YITONG_HOME": str(home_dir), "YITONG_ISSUER": self.base, "YITONG_SITE_NAME": "天津市统一身份认证平台",
               "YITONG_SITE_ORGANISER": "天津市政务服务办公室", "YITONG_SITE_ICP": "津ICP备12345678号",
               "YITONG_SITE_PSB": "津公网安备 12010102000001号", "YITONG_SITE_GOV_CODE": "1200000001",
               "YITONG_SITE_HOTLINE": "022-88908890"}
        settings = Settings.from_env(env)
        self.home = Home(settings)
        self.home.initialise(with_pki=True)
        self.app = create_app(settings, self.home)
        self.idp = self.app.extensions["yitong.idp"]
        self.server = make_server("localhost", port, self.app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("citizen") / "home")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser():
    if sync_playwright is None:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).is_file():
        _unavailable(f"{CHROMIUM} is not installed (Debian package chromium); .ci/run installs it")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=dict(os.environ))
        try:
            yield launched
        finally:
            launched.close()


def new_page(browser, width=1280, height=800, locale="zh-CN"):
    context = browser.new_context(viewport={"width": width, "height": height}, locale=locale,
                                  timezone_id="Asia/Shanghai")
    context.set_default_timeout(10_000)
    context.add_init_script(RECORD_CSP_VIOLATIONS)
    return context.new_page()


def virtual_authenticator(page) -> tuple[object, str]:
    """A platform authenticator with user verification (a phone's fingerprint), through CDP."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})
    return cdp, added["authenticatorId"]


def sign_in_with_password(page, base: str, login: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("用户名或手机号").fill(login)
    page.get_by_label("密码", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()


def test_a_passkey_is_registered_then_signs_in_without_a_password_and_serves_as_the_second_factor(server, browser):
    user = server.idp.accounts.create(username="zhaolei", password=PASSWORD)
    page = new_page(browser)
    cdp, authenticator = virtual_authenticator(page)
    sign_in_with_password(page, server.base, "zhaolei")
    expect(page).to_have_url(re.compile(re.escape(server.base) + "/(\\?.*)?$"))

    # Register: the account console's passkey page, named by the person.
    page.goto(f"{server.base}/account/passkeys")
    expect(page.locator("#passkey-none")).to_be_visible()
    page.get_by_label("给它起个名字").fill("我的手机")
    page.get_by_role("button", name="添加通行密钥").click()
    expect(page.locator("#passkey-done")).to_contain_text("已添加通行密钥")
    expect(page.locator("#passkey-list li.passkey")).to_have_count(1)
    expect(page.locator("#passkey-list")).to_contain_text("我的手机")
    stored = server.idp.passkeys.of_person(user.sub)
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert len(stored) == 1 and len(credentials) == 1 and credentials[0]["isResidentCredential"]
    assert page.evaluate("window.__cspViolations") == []

    # Sign in without a password: a new browser session, the same authenticator.
    page.context.clear_cookies()
    page.goto(f"{server.base}/login")
    page.get_by_role("button", name="使用通行密钥登录（无需密码）").click()
    expect(page).to_have_url(re.compile(re.escape(server.base) + "/(\\?.*)?$"))
    page.goto(f"{server.base}/account")
    expect(page.locator("#session-list li.current")).to_contain_text("通行密钥")
    assert server.idp.passkeys.of_person(user.sub)[0].last_used_at is not None

    # The second factor of a strong-real-name account: password, then the passkey, and the session is loa:3.
    server.idp.accounts.set_level(user.sub, LOA_3)
    page.context.clear_cookies()
    sign_in_with_password(page, server.base, "zhaolei")
    expect(page).to_have_url(re.compile(re.escape(server.base) + "/login/mfa"))
    page.get_by_role("button", name="使用通行密钥验证").click()
    expect(page).to_have_url(re.compile(re.escape(server.base) + "/(\\?.*)?$"))
    page.goto(f"{server.base}/account")
    expect(page.locator("#level")).to_have_attribute("data-acr", LOA_3)
    expect(page.locator("#level")).to_contain_text("强实名")
    assert "urn:yitong:loa:3" not in page.locator("main").inner_text()
    cookie = {c["name"]: c["value"] for c in page.context.cookies(server.base)}["yitong_sso"]
    latest = server.idp.accounts.session(cookie)
    assert latest.acr == LOA_3 and set(latest.amr) == {"pwd", "hwk"}, latest

    # Remove it in the console.
    page.goto(f"{server.base}/account/passkeys")
    page.get_by_role("button", name="删除 我的手机").click()
    expect(page.locator("#passkey-done")).to_contain_text("已删除")
    assert server.idp.passkeys.of_person(user.sub) == []
    page.context.close()
