"""Issue 17's journey in Debian's Chromium: the security administrator signs in at the console
with a password and TOTP, approves someone else's seal application, makes and suspends the seal;
the audit administrator sees both on the console's audit page (with who took them) and in the
seal's history, and the audit chains whole; `yitong audit
verify` passes, and an UPDATE on one audit row makes it fail naming that row.

Screenshots at laptop (1280x800) and tablet (820x1180) size go to tmp_path, and also to
$YITONG_SHOTS_DIR when set (for people to look at)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pyotp
import pytest
from sqlalchemy import text

from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, RECORD_CSP_VIOLATIONS, _unavailable
from tests.helpers import check_run, clean_env, free_port, run_yitong, wait_until_healthy
from tests.interop.harness import yitong_exe
from tests.licence.support import FOOD
from tests.seal.support import ORG_NAME, ORG_USCC

try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:
    sync_playwright = None

pytestmark = [pytest.mark.e2e]
PASSWORD = "Tianjin-2026-correct"
LAPTOP = {"width": 1280, "height": 800}
TABLET = {"width": 820, "height": 1180}


def _cli(env, *args, stdin: bytes | None = None) -> bytes:
    return check_run(run_yitong(list(args), env, input=stdin), "yitong " + " ".join(args[:2]))


def _person(env, username: str) -> str:
    made = json.loads(_cli(env, "user", "create", "--username", username, "--password-stdin", "--json",
                           stdin=f"{PASSWORD}\n".encode()))
    _cli(env, "user", "set-level", made["sub"], "urn:yitong:loa:3", "--reason", "窗口核验")
    return made["sub"]


@pytest.fixture
def console_site(tmp_path):
    issuer = f"http://127.0.0.1:{free_port()}"
    env = clean_env()
    env.update(YITONG_HOME=str(tmp_path / "home"), YITONG_ISSUER=issuer)
    _cli(env, "db", "upgrade")
    security, auditor, applicant = (_person(env, name) for name in ("anquan", "shenji", "shenqing"))
    _cli(env, "operator", "grant", "root-operator", "--role", "system")
    _cli(env, "operator", "grant", security, "--role", "security", "--by", "root-operator")
    _cli(env, "operator", "grant", auditor, "--role", "audit", "--by", "root-operator")
    secrets = {security: pyotp.random_base32(), auditor: pyotp.random_base32()}
    esid = _prepare(env, secrets, applicant)
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen([yitong_exe(), "serve", "--port", issuer.rsplit(":", 1)[1]], env=env,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_healthy(process, issuer, log.read_text)
        yield {"issuer": issuer, "env": env, "esid": esid, "security": security, "auditor": auditor,
               "totp": {name: pyotp.TOTP(secrets[sub]) for name, sub in (("anquan", security), ("shenji", auditor))}}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        print(f"server log (tail):\n{log.read_text()[-3000:]}")


def _prepare(env, secrets: dict, applicant: str) -> str:
    """What the browser cannot do here: enrol TOTP (the person would at /account/mfa) and a seal
    application made through the seal API by its applicant."""
    from idp.accounts.store import Accounts
    from seal.registry import SealRegistry
    from yitong.home import Home
    from yitong.settings import Settings

    home = Home(Settings.from_env(env))
    accounts = Accounts(home.engine, home.keystore().custody.master)
    for sub, secret in secrets.items():
        accounts.enrol_totp(sub, secret)
    registry = SealRegistry(home.engine, home.keystore(), home.pki(), audit_chain=home.audit_chain())
    esid = registry.apply(holder_kind="org", holder_id=ORG_USCC, holder_name=ORG_NAME, seal_type=6,
                          algorithm="sm2", actor=f"idp:{applicant}", reason="新设").esid
    home.engine.dispose()
    return esid


@pytest.fixture
def chromium():
    if sync_playwright is None:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).is_file():
        _unavailable(f"{CHROMIUM} is not installed (Debian package chromium); .ci/run installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _page(browser) -> Page:
    context = browser.new_context(viewport=LAPTOP, locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(15_000)
    context.add_init_script(RECORD_CSP_VIOLATIONS)
    return context.new_page()


def _shot(page: Page, tmp_path: Path, name: str) -> None:
    page.wait_for_load_state("load")
    assert page.evaluate("window.__cspViolations || []") == [], f"{page.url}: the CSP blocked something"
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size["width"]
    assert width <= viewport, f"{page.url} scrolls sideways at {viewport} px: {width} px wide"
    path = tmp_path / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    if os.environ.get("YITONG_SHOTS_DIR"):
        Path(os.environ["YITONG_SHOTS_DIR"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(os.environ["YITONG_SHOTS_DIR"]) / path.name)


def _sign_in(page: Page, site: dict, username: str) -> None:
    issuer = site["issuer"]
    page.goto(f"{issuer}/admin/")
    expect(page).to_have_url(re.compile(re.escape(f"{issuer}/login")))
    page.get_by_label("用户名或手机号").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(re.compile(re.escape(f"{issuer}/login/mfa")))
    page.get_by_label("动态验证码或恢复码").fill(site["totp"][username].now())
    page.get_by_role("button", name="验证").click()
    heading = page.get_by_role("heading", level=1)
    for _ in range(3):  # consent to the console (the first time), then its home page
        expect(heading).to_have_text(re.compile("^(授权确认|欢迎)$"))
        if heading.inner_text().strip() == "欢迎":
            break
        page.get_by_role("button", name="同意").click()
        expect(heading).not_to_have_text("授权确认")
    expect(heading).to_have_text("欢迎")


def _act(page: Page, label: str, reason: str) -> None:
    page.get_by_label("理由").fill(reason)
    page.get_by_role("button", name=label).click()


def test_the_security_and_audit_administrators_at_the_console(console_site, chromium, tmp_path):
    site, esid = console_site, console_site["esid"]
    page = _page(chromium)
    _sign_in(page, site, "anquan")
    expect(page.locator("main")).to_contain_text("security")
    _shot(page, tmp_path, "console-home-laptop")

    page.get_by_role("link", name="印章", exact=True).click()
    expect(page.locator("table")).to_contain_text(esid)
    page.get_by_role("link", name=esid).click()
    expect(page.locator("h1")).to_contain_text("applied")
    _act(page, "批准", "材料齐全")
    expect(page.locator("h1")).to_contain_text("approved")
    _act(page, "制作", "制章")
    expect(page.locator("h1")).to_contain_text("active")
    expect(page.locator("img.seal")).to_be_visible()
    _act(page, "挂失", "印章遗失")
    expect(page.get_by_role("heading", level=1)).to_have_text("确认")  # destructive: confirmed first
    _shot(page, tmp_path, "console-confirm-laptop")
    page.get_by_role("button", name="确认").click()
    expect(page.locator("h1")).to_contain_text("suspended")
    _shot(page, tmp_path, "console-seal-laptop")
    page.set_viewport_size(TABLET)
    _shot(page, tmp_path, "console-seal-tablet")
    page.goto(f"{site['issuer']}/admin/seals")
    _shot(page, tmp_path, "console-seals-tablet")
    page.set_viewport_size(LAPTOP)
    _shot(page, tmp_path, "console-seals-laptop")
    page.goto(f"{site['issuer']}/admin/audit")  # not the security administrator's: the server says so
    expect(page.locator("[role=alert]").first).to_contain_text("managed by the audit administrator")
    # Locking an account: a button per row, a confirmation with the reason, then unlocking.
    page.goto(f"{site['issuer']}/admin/users?q=shenqing")
    page.get_by_role("button", name="锁定 shenqing").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("确认")
    _shot(page, tmp_path, "console-lock-confirm-laptop")
    _act(page, "确认", "冒用举报")
    expect(page.locator("table")).to_contain_text("已锁定")
    _shot(page, tmp_path, "console-users-laptop")
    page.get_by_role("button", name="解锁 shenqing").click()
    _act(page, "确认", "核实为本人")
    expect(page.locator("table")).to_contain_text("正常")

    auditor = _page(chromium)
    _sign_in(auditor, site, "shenji")
    auditor.goto(f"{site['issuer']}/admin/audit")
    expect(auditor.locator("#chain")).to_contain_text("完整")
    expect(auditor.locator("#idp-events")).to_contain_text('"reason": "窗口核验"')  # details stay readable
    expect(auditor.locator("#idp-events")).to_contain_text("user.locked")
    # Both seal actions, with the security administrator who took them, and the seal chains whole.
    actions = auditor.locator("#seal-events")
    for event, reason in (("approved", "材料齐全"), ("suspended", "印章遗失")):
        row = actions.locator("tr", has_text=reason)
        expect(row).to_have_count(1)
        expect(row.locator("td").nth(2)).to_have_text(event)
        expect(row).to_contain_text(esid)
        expect(row).to_contain_text(f"operator:{site['security']}")
        expect(row).to_contain_text(reason)
    for chain in ("seal_events", "seal_usage"):
        expect(auditor.locator(f".chain-{chain}")).to_contain_text("完整")
    _shot(auditor, tmp_path, "console-audit-laptop")
    auditor.set_viewport_size(TABLET)
    _shot(auditor, tmp_path, "console-audit-tablet")
    auditor.goto(f"{site['issuer']}/admin/seals/{esid}")
    history = auditor.locator("table")
    for event in ("approved", "made", "suspended"):
        expect(history).to_contain_text(event)
    expect(history).to_contain_text(f"operator:{site['security']}")
    auditor.get_by_role("link", name="English").click()
    expect(auditor.locator("h2")).to_have_text("Status history")

    verified = run_yitong(["audit", "verify"], site["env"])
    assert verified.returncode == 0, verified.stdout + verified.stderr
    _tamper(site["env"])
    broken = run_yitong(["audit", "verify", "--json"], site["env"])
    assert broken.returncode == 1
    report = json.loads(broken.stdout)["chains"][0]
    assert report["broken"]["kind"] == "edited" and report["broken"]["seq"] == 2
    # Rewriting who approved the seal is named as well.
    events = run_yitong(["audit", "verify", "--chain", "seal_events", "--json"], site["env"])
    assert events.returncode == 0, events.stdout + events.stderr
    _tamper(site["env"], "seal_events", "actor = 'operator:someone-else'", "event = 'approved'")
    broken = run_yitong(["audit", "verify", "--chain", "seal_events", "--json"], site["env"])
    assert broken.returncode == 1
    assert json.loads(broken.stdout)["chains"][0]["broken"]["kind"] == "edited"


def _tamper(env, table: str = "idp_audit", change: str = "ip = '192.0.2.66'", where: str = "chain_seq = 2") -> None:
    """A database administrator edits one audit row (dropping the append-only triggers first)."""
    from yitong.home import Home
    from yitong.settings import Settings

    engine = Home(Settings.from_env(env)).engine
    with engine.begin() as conn:
        conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_update"))
        conn.execute(text(f"UPDATE {table} SET {change} WHERE {where}"))  # noqa: S608 (the test's own constants)
    engine.dispose()


def _prepare_organisation_and_licence(env, representative: str) -> dict:
    """What the people outside the console did: an organisation registered by its legal
    representative, an agent invited, a food business licence issued by the market regulator."""
    from datetime import timedelta

    from idp.accounts.store import Accounts
    from idp.agents.store import Agents
    from idp.identity import Identities, Organisations
    from keys.storage import utcnow
    from licence.library import LicenceLibrary
    from seal.registry import SealRegistry
    from tests.baselib.server import COMPANY, ZHAO
    from tests.licence.support import food
    from yitong.home import Home
    from yitong.settings import Settings

    home = Home(Settings.from_env(env))
    keystore = home.keystore()
    accounts = Accounts(home.engine, keystore.custody.master)
    agent = accounts.create(username="jingban", password=PASSWORD)
    identities = Identities(home.engine, keystore)
    identities.bind(agent.sub, id_type="resident", name=ZHAO[0], id_number=ZHAO[1],
                    trust_framework="cn_population_library", evidence={})
    accounts.set_level(agent.sub, "urn:yitong:loa:2")
    organisations = Organisations(home.engine)
    organisations.register(uscc=COMPANY[1], name=COMPANY[0], legal_representative_sub=representative,
                           acr="urn:yitong:loa:2", uscc_warnings=[], trust_framework="cn_legal_person_library",
                           evidence={})
    mandate = Agents(home.engine, organisations, identities).grant(
        actor=representative, uscc=COMPANY[1], login="jingban", roles=["*"], expires_at=utcnow() + timedelta(days=90))
    seals = SealRegistry(home.engine, keystore, home.pki(), region=home.settings.seal_region)
    licence = LicenceLibrary(home.engine, seals, issuer=home.settings.issuer).issue(food(), actor="test:issuer")
    home.engine.dispose()
    return {"uscc": COMPANY[1], "name": COMPANY[0], "agent_id": mandate.agent_id, "licence_id": licence.licence_id}


def _age_sign_in(env, sub: str, seconds: int) -> None:
    """The operator signed in to the IdP ``seconds`` ago (their single sign-on session is that old)."""
    from yitong.home import Home
    from yitong.settings import Settings

    engine = Home(Settings.from_env(env)).engine
    with engine.begin() as conn:
        conn.execute(text("UPDATE idp_sessions SET auth_time = auth_time - :s WHERE sub = :sub"),
                     {"s": seconds, "sub": sub})
    engine.dispose()


def _with_lang(url: str, lang: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "lang"] + [("lang", lang)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _shots(page: Page, tmp_path: Path, name: str) -> None:
    """The page at laptop and tablet size, each in Chinese and English; back to laptop and Chinese."""
    for size_name, size in (("laptop", LAPTOP), ("tablet", TABLET)):
        page.set_viewport_size(size)
        for lang in ("zh-CN", "en"):
            page.goto(_with_lang(page.url, lang))
            _shot(page, tmp_path, f"{name}-{size_name}-{lang[:2]}")
    page.set_viewport_size(LAPTOP)
    page.goto(_with_lang(page.url, "zh-CN"))  # the IdP's pages follow the console's choice


@pytest.fixture
def organisation_and_licence(console_site):
    """Set up before the browser starts (sealing the licence runs its own event loop)."""
    return _prepare_organisation_and_licence(console_site["env"], console_site["auditor"])


def test_organisations_agents_licences_and_a_step_up_revocation(console_site, organisation_and_licence, chromium,
                                                                 tmp_path):
    """The security administrator finds an organisation and its agent, the licence catalogue and a
    licence; revoking the agent's mandate with a sign-in ten minutes old sends them through the IdP
    again (password and TOTP) and back to the same confirmation, and the revocation happens then."""
    site = console_site
    issuer = site["issuer"]
    made = organisation_and_licence
    page = _page(chromium)
    _sign_in(page, site, "anquan")

    page.get_by_role("link", name="组织", exact=True).click()
    page.get_by_label("统一社会信用代码或名称").fill("一通")
    page.get_by_role("button", name="搜索").click()
    page.get_by_role("link", name=made["uscc"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(made["name"])
    expect(page.locator("table").nth(1)).to_contain_text(made["agent_id"])
    _shots(page, tmp_path, "console-organisation")

    page.get_by_role("link", name="证照", exact=True).click()
    expect(page.locator("table")).to_contain_text("食品经营许可证")
    _shots(page, tmp_path, "console-licence-types")
    page.get_by_role("link", name=FOOD).click()
    page.get_by_role("link", name=made["licence_id"]).click()
    expect(page.locator("table").first).to_contain_text("valid")
    _shots(page, tmp_path, "console-licence")

    # Ten minutes after the sign-in (the console's session itself carries on): sign out of the
    # console only, and back in through the IdP's single sign-on, so the tokens say so.
    page.goto(f"{issuer}/admin/")
    page.get_by_role("button", name="退出").click()
    _age_sign_in(site["env"], site["security"], 600)
    page.goto(f"{issuer}/admin/login")
    expect(page.get_by_role("heading", level=1)).to_have_text("欢迎")
    page.goto(f"{issuer}/admin/organisations/{made['uscc']}")
    page.get_by_role("button", name=f"撤销授权 {made['agent_id']}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("确认")
    _act(page, "确认", "单位来函要求撤销")
    # The API asked for a recent sign-in: the IdP asks for the password and the code again.
    expect(page).to_have_url(re.compile(re.escape(f"{issuer}/login")))
    _shot(page, tmp_path, "console-stepup-login-laptop-zh")
    page.get_by_label("用户名或手机号").fill("anquan")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(re.compile(re.escape(f"{issuer}/login/mfa")))
    page.get_by_label("动态验证码或恢复码").fill(site["totp"]["anquan"].at(time.time() + 30))
    page.get_by_role("button", name="验证").click()
    expect(page).to_have_url(re.compile(re.escape(f"{issuer}/admin/again")))
    expect(page.get_by_role("status")).to_contain_text("您已重新验证身份")
    expect(page.get_by_label("理由")).to_have_value("单位来函要求撤销")
    _shot(page, tmp_path, "console-stepup-confirm-laptop-zh")
    page.set_viewport_size(TABLET)
    _shot(page, tmp_path, "console-stepup-confirm-tablet-zh")
    page.set_viewport_size(LAPTOP)
    page.get_by_role("button", name="确认").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(made["name"])
    expect(page.locator("table").nth(1)).to_contain_text("revoked")
    _shots(page, tmp_path, "console-organisation-revoked")
