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
from tests.helpers import clean_env, free_port
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


# -- accessibility (GB/T 37668-2019, WCAG 2.1 AA through axe-core) and the elder-friendly mode ------------------
A11Y = Path(__file__).resolve().parent.parent / "a11y"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
SIZES = {"phone": (375, 812), "desktop": (1280, 800)}
SHOTS = os.environ.get("YITONG_SHOTS")  # a folder: also save a screenshot of every page checked


@pytest.fixture(scope="module")
def axe_source() -> str:
    """axe-core from tests/a11y/package-lock.json (`npm ci` when node_modules is missing)."""
    from tests.helpers import npm_ci_once

    script = A11Y / "node_modules" / "axe-core" / "axe.min.js"
    npm_ci_once(A11Y, script)
    return script.read_text(encoding="utf-8")


def citizen_pages(server, client_id: str) -> dict[str, str]:
    """Every page a citizen sees (signed in where it needs it), by name."""
    from tests.idp.support import authorize_url, pkce_pair

    return {
        "landing": "/", "login": "/login", "login-captcha": "/login?captcha=1", "register": "/register",
        "password-reset": "/password/reset", "privacy": "/privacy", "not-found": "/no-such-page",
        "certificate-login": "/login/certificate", "account": "/account", "account-mfa": "/account/mfa",
        "account-passkeys": "/account/passkeys", "account-realname": "/account/realname",
        "account-strong": "/account/realname/strong", "account-phone": "/account/phone",
        "account-data": "/account/data", "account-agents": "/account/agents",
        "consent": authorize_url(client_id, pkce_pair()[1]), "verify": "/verify/",
    }


def serious_violations(page, axe_source: str) -> list[str]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source)  # evaluated through DevTools: the page's CSP is not involved
    found = page.evaluate("""async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))
        .violations.map(v => ({id: v.id, impact: v.impact,
                               nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)}))""", AXE_TAGS)
    return [f"{v['impact']} {v['id']} {v['nodes']}" for v in found if v["impact"] in ("critical", "serious")]


@pytest.fixture(scope="module")
def citizen(server):
    from idp.oauth.clients import build_metadata
    from tests.idp.support import REDIRECT

    user = server.idp.accounts.create(username="liuyang", phone="13912345678", password=PASSWORD)

    metadata = build_metadata(redirect_uris=[REDIRECT], grant_types=["authorization_code"],
                              scope="openid profile phone", token_endpoint_auth_method=None, public=True)
    client, _ = server.idp.clients.create("天津市民政局网上办事大厅", metadata)
    return user, client


def test_every_citizen_page_passes_axe_in_both_languages_on_phone_and_desktop(server, browser, citizen, axe_source):
    _, client = citizen
    failures = {}
    checked = 0
    for lang in ("zh-CN", "en"):
        for size, (width, height) in SIZES.items():
            page = new_page(browser, width, height, locale=lang)
            sign_in_with_password(page, server.base, "liuyang") if lang == "zh-CN" else _sign_in_en(page, server)
            for elder in ((False, True) if lang == "zh-CN" else (False,)):
                for name, path in citizen_pages(server, client.client_id).items():
                    sep = "&" if "?" in path else "?"
                    page.goto(f"{server.base}{path}{sep}lang={lang}&elder={int(elder)}")
                    problems = serious_violations(page, axe_source)
                    checked += 1
                    if problems:
                        failures[f"{lang} {size} {'elder ' if elder else ''}{name}"] = problems
                    assert page.evaluate("window.__cspViolations") == [], f"{name}: the CSP blocked something"
                    if size == "phone":
                        wide = page.evaluate("document.documentElement.scrollWidth")
                        assert wide <= width + 1, f"{name} scrolls sideways on a phone: {wide} px"
                    if SHOTS:
                        shot = Path(SHOTS) / f"{name}-{lang}-{size}{'-elder' if elder else ''}.png"
                        page.screenshot(path=str(shot), full_page=True)
            page.context.close()
    assert checked >= 4 * len(citizen_pages(server, client.client_id))
    assert failures == {}, "\n".join(f"{k}: {v}" for k, v in failures.items())


def _sign_in_en(page, server) -> None:
    page.goto(f"{server.base}/login?lang=en")
    page.get_by_label("Username or mobile number").fill("liuyang")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def tab_to(page, selector: str, limit: int = 40) -> None:
    """Press Tab until ``selector`` has the focus (keyboard only), and check the focus is visible."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
            assert outline not in ("none", ""), f"{selector} has no visible focus"
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_sign_in_and_consent_by_keyboard_alone_with_visible_focus_and_errors_tied_to_fields(server, browser, citizen):
    from tests.idp.support import authorize_url, pkce_pair

    _, client = citizen
    page = new_page(browser, 375, 812)
    asked = authorize_url(client.client_id, pkce_pair()[1])
    page.goto(f"{server.base}{asked}")
    expect(page.locator("#asking-client-name")).to_have_text("天津市民政局网上办事大厅")
    tab_to(page, "#login")
    page.keyboard.type("liuyang")
    tab_to(page, "#password")
    page.keyboard.type("not-the-password")
    page.keyboard.press("Enter")
    expect(page.locator("#login-error")).to_contain_text("用户名或密码错误")
    expect(page.locator("#password")).to_have_attribute("aria-describedby", "login-error")
    expect(page.get_by_label("密码", exact=True)).to_have_attribute("aria-invalid", "true")
    tab_to(page, "#password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("#signed-in-as")).to_contain_text("liuyang")
    page.route("http://127.0.0.1:9000/**", lambda route: route.fulfill(status=200, body="portal"))
    tab_to(page, "button[value=allow]")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"^http://127\.0\.0\.1:9000/callback\?code="))

    # The large-text mode: switched from the footer by keyboard, remembered on the next page.
    page.goto(f"{server.base}/login")
    tab_to(page, "#elder-mode")
    page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_class("elder")
    page.goto(f"{server.base}/register")
    expect(page.locator("html")).to_have_class("elder")
    size = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('button')).fontSize)")
    assert size >= 22, size  # 1.2rem of a 125 % root
    page.goto(f"{server.base}/login?elder=0")
    expect(page.locator("html")).not_to_have_class("elder")
    page.context.close()


def test_a_failed_document_at_verify_shows_its_seal_greyed_under_an_invalid_mark(server, browser, tmp_path,
                                                                                  _sqlite_template):
    from concurrent.futures import ThreadPoolExecutor

    from tests.verify.support import World, base_pdf

    def seal_one() -> bytes:  # pyhanko runs asyncio, which Playwright's loop in this thread would refuse
        (tmp_path / "world").mkdir()
        world = World(tmp_path / "world", _sqlite_template)
        return world.sign(base_pdf(3), world.sm2, page=2)

    with ThreadPoolExecutor(1) as pool:
        sealed = pool.submit(seal_one).result()
    tampered = sealed.replace(b"Business licence page 1", b"Business licence page 8", 1)
    (tmp_path / "tampered.pdf").write_bytes(tampered)
    (tmp_path / "foreign.pdf").write_bytes(sealed)  # sealed under a CA this server does not trust
    for name, mark, sentence in (("tampered.pdf", "无效", "本文件的印章无效"),
                                 ("foreign.pdf", "无法确认", "暂时无法确认")):
        for size, (width, height) in SIZES.items():
            page = new_page(browser, width, height)
            page.goto(f"{server.base}/verify/")
            page.set_input_files("#file", str(tmp_path / name))
            page.get_by_role("button", name="验证 Verify").click()
            expect(page.locator("#verdict-sentence")).to_contain_text(sentence)
            stamp = page.locator("figure.seal-figure.void .mark")
            expect(stamp).to_be_visible()
            expect(stamp).to_contain_text(mark)
            grey = page.evaluate("() => getComputedStyle(document.querySelector('figure.void img.seal')).filter")
            assert "grayscale(1)" in grey, grey
            expect(page.locator("details.technical").first).not_to_have_attribute("open", "")
            expect(page.locator("#site-organiser")).to_contain_text("天津市政务服务办公室")  # the site's footer
            if SHOTS:
                page.screenshot(path=str(Path(SHOTS) / f"verify-report-{name[:-4]}-{size}.png"), full_page=True)
            page.context.close()


def test_sign_up_and_real_name_by_keyboard_alone(server, browser, tmp_path, monkeypatch):
    """Phone, CAPTCHA, SMS code, passwords, consent, then name and ID number: Tab, type, Space, Enter."""
    import json

    from idp.security import captcha
    from tests.baselib.server import CSV, LI
    from tests.helpers import check_run, run_yitong

    records = tmp_path / "records.csv"
    records.write_text(CSV, encoding="utf-8")
    env = clean_env()
    env.update(YITONG_HOME=str(server.home.settings.home), YITONG_ISSUER=server.base)
    check_run(run_yitong(["baselib", "import", str(records), "--json"], env), "yitong baselib import")
    monkeypatch.setattr(captcha, "_new_code", lambda: "AB2CD")  # as tests/idp/test_signup.py: the picture's code
    phone = "13787654321"
    outbox = server.home.settings.sms_outbox
    page = new_page(browser, 375, 812)
    page.goto(f"{server.base}/register")
    tab_to(page, "#phone")
    page.keyboard.type(phone)
    tab_to(page, "#captcha_answer")
    page.keyboard.type("AB2CD")
    page.keyboard.press("Enter")
    expect(page.locator("#code-sent")).to_contain_text("137****4321")
    code = [json.loads(line) for line in outbox.read_text(encoding="utf-8").splitlines()
            if json.loads(line)["to"] == phone][-1]["code"]
    tab_to(page, "#code")
    page.keyboard.type(code)
    tab_to(page, "#password")
    page.keyboard.type(PASSWORD)
    tab_to(page, "#password2")
    page.keyboard.type(PASSWORD)
    tab_to(page, "input[name=consent]")
    page.keyboard.press("Space")
    tab_to(page, "button[type=submit]")
    page.keyboard.press("Enter")
    expect(page.locator("#signup-level")).to_have_text("基础账号")

    page.goto(f"{server.base}/account/realname")
    tab_to(page, "#name")
    page.keyboard.type(LI[0])
    tab_to(page, "#id_number")
    page.keyboard.type(LI[1])
    page.keyboard.press("Enter")
    expect(page.locator("#realname-level")).to_have_attribute("data-acr", "urn:yitong:loa:2")
    expect(page.locator("#realname-level")).to_contain_text("实名认证")
    page.context.close()
