"""Browser end to end (issue 5): the real-name journey of two people on phones, in Debian's Chromium.

`yitong serve` runs over HTTPS (as in tests/e2e/test_browser.py: a certificate from the home's own
p256-issuing CA, trusted by Chromium through an NSS database) on a fresh home with the reference
base library mounted at /baselib/ (the embedded default) and its records imported with
`yitong baselib import` (tests/baselib/server.py's CSV: population and legal-person rows). The IdP
reaches its own /baselib/ over the same HTTPS, trusting the test CA (YITONG_BASELIB_CA_FILE).

The server process is `yitong serve` started through ``yitong.cli.main`` in a Python process that
first fixes the CAPTCHA's random code, exactly as tests/idp/test_signup.py does in-process: the
picture, the signed token, the one-guess replay check and every limit stay the real ones; the
person on the phone types the code. SMS codes are read from the real outbox file
($YITONG_HOME/sms-outbox.jsonl), as an operator of a trial installation would.

The journey, with what each person sees checked at every step (headings, messages, labelled
inputs, no sideways scrolling at 375 px; screenshots in tmp_path):

1. 张三 signs up by mobile number: CAPTCHA, SMS code, password, consent → signed in at loa:1;
2. real name at /account/realname → loa:2 (population library over HTTP);
3. registers his company at /account/organisations (legal-person library);
4. 李四 signs up the same way (second browser context) and verifies her real name;
5. 张三 authorises 李四 as an agent (all services) at /account/agents;
6. 李四 accepts, signs in to the portal (tests/e2e/rp.py, scope ``openid org``), consents, chooses the
   company on Yitong's "whom do you act for" page; the portal's validated ID token carries the
   ``org`` claim (uscc, name, roles ``*``, acting_as) and the portal shows it;
7. 李四's account console (/account, also in English) lists her session, the portal's consent and
   her agency; she withdraws the portal's consent;
8. 张三 forgot his password; his sign-up text came less than a minute ago, so at /password/reset a
   wrong CAPTCHA answer gets a new picture and sends nothing, and the right one hits the per-number
   limit (one a minute) → the 429 page with Retry-After, no message;
9. he waits as long as it said (the test moves the server's rate-limit clock on), resets his
   password by SMS code, the old one is refused and he signs in with the new one; his console shows
   the organisation, the agent and the reset; he signs in on a tablet too, then signs out everywhere
   else from his phone;
10. another code for his number at once → the limit again (429).

Afterwards: no 500 and no traceback in the server log; no ID number, password or SMS code in the
server log or in the audit trail.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.baselib.server import COMPANY, CSV, LI, ZHANG
from tests.e2e.rp import RelyingParty
from tests.e2e.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PHONE,
    RECORD_CSP_VIOLATIONS,
    _unavailable,
    assert_fits_phone,
    at,
    browser_home,
)
from tests.helpers import check_run, clean_env, free_port, issue_tls_server_certificate, run_yitong, wait_until_healthy

try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # in the test extra; the fixture below says what is missing
    sync_playwright = None

pytestmark = [pytest.mark.e2e]

CAPTCHA = "AB2CD"
PORTAL = "示例门户"
PASSWORD = "Haihe-bridge-2026"
NEW_PASSWORD = "Jinwan-plaza-2027"
ZHANG_PHONE, LI_PHONE = "13912345678", "13787654321"


def serve_script(clock_skip: Path) -> str:
    """`yitong serve` with the CAPTCHA's random code fixed (as tests/idp/test_signup.py does in-process)
    and keys.clock.monotonic (the in-process rate-limit windows) ahead by the seconds in ``clock_skip``:
    the test moves the server's time on instead of waiting for a Retry-After."""
    return ("import sys, time\nfrom pathlib import Path\nimport keys.clock\n"
            f"skip = Path({str(clock_skip)!r})\n"
            "keys.clock.monotonic = lambda: time.monotonic() + (float(skip.read_text()) if skip.exists() else 0.0)\n"
            f"from idp.security import captcha\ncaptcha._new_code = lambda: {CAPTCHA!r}\n"
            "from yitong.cli import main\nmain(sys.argv[1:])\n")


@dataclass
class Site:
    issuer: str
    rp: RelyingParty
    home: Path
    log: Path
    ca_file: Path
    clock_skip: Path

    def advance_clock(self, seconds: float) -> None:
        """The server's rate-limit clock moves ``seconds`` on (see serve_script)."""
        skipped = float(self.clock_skip.read_text()) if self.clock_skip.exists() else 0.0
        self.clock_skip.write_text(str(skipped + seconds), encoding="utf-8")

    @property
    def outbox(self) -> Path:
        return self.home / "sms-outbox.jsonl"

    def messages(self, phone: str) -> list[dict]:
        if not self.outbox.exists():
            return []
        lines = self.outbox.read_text(encoding="utf-8").splitlines()
        return [m for m in map(json.loads, lines) if m["to"] == phone]

    def wait_for_code(self, phone: str, already: int) -> str:
        """The code of the next message to ``phone`` after ``already`` messages (the outbox file)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            sent = self.messages(phone)
            if len(sent) > already:
                assert sent[-1].get("code"), sent[-1]
                return sent[-1]["code"]
            time.sleep(0.1)
        raise AssertionError(f"no SMS code reached the outbox for {phone}")


@pytest.fixture
def site(tmp_path):
    issuer = f"https://127.0.0.1:{free_port()}"
    home = tmp_path / "home"
    env = clean_env()
    env.update(YITONG_HOME=str(home), YITONG_ISSUER=issuer)
    check_run(run_yitong(["db", "upgrade"], env), "yitong db upgrade")
    chain, key, ca_file = issue_tls_server_certificate(env, tmp_path)
    env["YITONG_BASELIB_CA_FILE"] = str(ca_file)  # the IdP asks its own /baselib/ over this HTTPS
    records = tmp_path / "records.csv"
    records.write_text(CSV, encoding="utf-8")
    imported = json.loads(check_run(run_yitong(["baselib", "import", str(records), "--json"], env),
                                    "yitong baselib import"))
    assert imported, imported
    rp = RelyingParty(issuer, ca_file=str(ca_file), scope="openid org")
    client = json.loads(check_run(run_yitong(
        ["client", "create", "--name", PORTAL, "--redirect-uri", rp.redirect_uri,
         "--post-logout-redirect-uri", rp.post_logout_redirect_uri, "--grant", "authorization_code",
         "--scope", "openid profile org", "--json"], env), "yitong client create"))
    log, clock_skip = tmp_path / "server.log", tmp_path / "clock-skip"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-c", serve_script(clock_skip), "serve",
                                    "--port", issuer.rsplit(":", 1)[1], "--certfile", str(chain),
                                    "--keyfile", str(key)],
                                   env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_healthy(process, issuer, log.read_text, context=ssl.create_default_context(cafile=str(ca_file)))
        rp.start(client["client_id"], client["client_secret"])
        yield Site(issuer, rp, home, log, ca_file, clock_skip)
    finally:
        rp.stop()
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        print(f"portal errors: {rp.errors}\nportal log: {rp.log[-20:]}\nserver log (tail):\n{log.read_text()[-3000:]}")


@pytest.fixture
def browser(site, tmp_path):
    if sync_playwright is None:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).is_file():
        _unavailable(f"{CHROMIUM} is not installed (Debian package chromium); .ci/run installs it")
    with sync_playwright() as playwright:
        env = {**os.environ, "HOME": str(browser_home(tmp_path, site.ca_file))}
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=env)
        try:
            yield launched
        finally:
            launched.close()


def new_phone(browser) -> Page:
    """A phone of its own (separate cookie jar): 375×812, touch, zh-CN, China Standard Time."""
    context = browser.new_context(viewport=PHONE, screen=PHONE, is_mobile=True, has_touch=True,
                                  device_scale_factor=2, locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(15_000)
    context.add_init_script(RECORD_CSP_VIOLATIONS)
    return context.new_page()


def heading(page: Page, text: str) -> None:
    expect(page.get_by_role("heading", level=1)).to_contain_text(text)


def fits(page: Page, shots: Path, name: str, *controls) -> None:
    assert_fits_phone(page, *controls)
    page.screenshot(path=shots / f"{name}.png", full_page=True)


def captcha_picture_shown(page: Page) -> None:
    """The CAPTCHA's PNG (a data: URI) is on the page and the browser decoded it."""
    picture = page.get_by_role("img", name="验证码图片")
    expect(picture).to_be_visible()
    assert picture.evaluate("i => i.complete && i.naturalWidth") == 220


def ask_for_code(page: Page, site: Site, phone: str, *, shots: Path, name: str) -> str:
    """The phone + CAPTCHA step of /register or /password/reset; returns the SMS code sent."""
    expect(page.locator("#sms-outbox-note")).to_contain_text("短信发件箱")  # the trial mode says so
    expect(page.get_by_label("图形验证码（请输入图中字符）")).to_have_id("captcha_answer")
    captcha_picture_shown(page)
    page.get_by_label("手机号码").fill(phone)
    page.get_by_label("图形验证码（请输入图中字符）").fill(CAPTCHA)
    fits(page, shots, name, page.get_by_role("button", name="获取短信验证码"))
    before = len(site.messages(phone))
    page.get_by_role("button", name="获取短信验证码").click()
    expect(page.locator("#code-sent")).to_contain_text(f"{phone[:3]}****{phone[-4:]}")
    return site.wait_for_code(phone, before)


def sign_up(page: Page, site: Site, phone: str, shots: Path, who: str) -> None:
    page.goto(f"{site.issuer}/login")
    page.get_by_role("link", name=re.compile("注册")).click()
    at(page, f"{site.issuer}/register")
    heading(page, "手机号注册")
    code = ask_for_code(page, site, phone, shots=shots, name=f"{who}-register-phone")
    assert re.fullmatch(r"\d{6}", code)
    page.get_by_label("短信验证码（6位数字）").fill(code)
    page.get_by_label("设置密码（至少10个字符）").fill(PASSWORD)
    page.get_by_label("再次输入密码").fill(PASSWORD)
    expect(page.locator("#consent-text")).not_to_be_empty()
    page.get_by_label("我已阅读并同意上述个人信息处理规则").check()
    fits(page, shots, f"{who}-register-code", page.get_by_label("短信验证码（6位数字）"))
    page.get_by_role("button", name="注册", exact=True).click()
    expect(page.locator("#signup-success")).to_contain_text("注册成功，您已登录")
    expect(page.locator("#signup-level")).to_have_attribute("data-acr", "urn:yitong:loa:1")
    expect(page.locator("#signup-level")).to_have_text("基础账号")
    fits(page, shots, f"{who}-registered")


def real_name(page: Page, site: Site, person: tuple[str, str], shots: Path, who: str) -> None:
    page.get_by_role("link", name=re.compile("下一步：实名认证")).click()
    at(page, f"{site.issuer}/account/realname")
    heading(page, "实名认证")
    page.get_by_label("姓名").fill(person[0])
    page.get_by_label("身份证号码").fill(person[1])
    fits(page, shots, f"{who}-realname-form", page.get_by_role("button", name="提交核验"))
    page.get_by_role("button", name="提交核验").click()
    expect(page.locator("#realname-success")).to_contain_text("实名认证成功")
    masked = f"{person[1][:6]}********{person[1][-4:]}"
    expect(page.locator("#realname-id")).to_have_text(masked)
    expect(page.locator("#realname-level")).to_have_attribute("data-acr", "urn:yitong:loa:2")
    expect(page.locator("#realname-level")).to_contain_text("实名认证")
    assert person[1] not in page.content()  # only ever masked
    fits(page, shots, f"{who}-realname-done")


def sms_limit_reached(page: Page, site: Site, phone: str, shots: Path, name: str) -> int:
    """On a phone + CAPTCHA page for a number that had a text less than a minute ago: a wrong answer
    gets a new picture and sends nothing; the right one gets the 429 page. Returns Retry-After."""
    sent = len(site.messages(phone))
    page.get_by_label("手机号码").fill(phone)
    page.get_by_label("图形验证码（请输入图中字符）").fill("ZZZZZ")
    page.get_by_role("button", name="获取短信验证码").click()
    expect(page.get_by_role("alert")).to_contain_text("验证码")
    captcha_picture_shown(page)
    fits(page, shots, f"{name}-captcha-wrong", page.get_by_role("button", name="获取短信验证码"))
    page.get_by_label("手机号码").fill(phone)
    page.get_by_label("图形验证码（请输入图中字符）").fill(CAPTCHA)
    with page.expect_response(re.compile(r"/code$")) as answer:
        page.get_by_role("button", name="获取短信验证码").click()
    assert answer.value.status == 429, answer.value.status
    retry_after = int(answer.value.headers["retry-after"])
    assert 0 < retry_after <= 60, retry_after
    heading(page, "请求过于频繁")
    expect(page.get_by_role("alert")).to_contain_text(re.compile(r"请在 \d+ 秒后重试"))
    fits(page, shots, name)
    assert len(site.messages(phone)) == sent, "a text went out despite the limit"
    return retry_after


def test_register_real_name_organisation_agent_acts_for_it_password_reset_and_sms_limit(site, browser, tmp_path):
    shots, issuer, rp = tmp_path, site.issuer, site.rp

    # 1-2. 张三 signs up with his mobile number and verifies his real name.
    zhang = new_phone(browser)
    sign_up(zhang, site, ZHANG_PHONE, shots, "zhang")
    real_name(zhang, site, ZHANG, shots, "zhang")

    # 3. He registers his company as its legal representative.
    zhang.goto(f"{issuer}/account/organisations")
    heading(zhang, "单位（法人）实名登记")
    expect(zhang.locator("main")).to_contain_text(f"{ZHANG[1][:6]}********{ZHANG[1][-4:]}")
    zhang.get_by_label("统一社会信用代码").fill(COMPANY[1])
    zhang.get_by_label("单位名称").fill(COMPANY[0])
    fits(zhang, shots, "zhang-organisation-form", zhang.get_by_role("button", name="提交核验"))
    zhang.get_by_role("button", name="提交核验").click()
    expect(zhang.locator("#org-success")).to_contain_text(f"单位登记成功：{COMPANY[1]}")
    expect(zhang.locator("#org-list")).to_contain_text(COMPANY[0])
    fits(zhang, shots, "zhang-organisation-done")

    # 4. 李四 signs up on her own phone and verifies her real name.
    li = new_phone(browser)
    sign_up(li, site, LI_PHONE, shots, "li")
    real_name(li, site, LI, shots, "li")

    # 5. 张三 authorises her as an agent of the company for all services.
    zhang.get_by_role("link", name="管理经办人").click()
    at(zhang, f"{issuer}/account/agents")
    heading(zhang, "单位经办人")
    org = zhang.locator(f"#org-{COMPANY[1]}")
    org.get_by_label("经办人的用户名或手机号（须已实名认证）").fill(LI_PHONE)
    org.locator("input[name=role][value='*']").check()
    fits(zhang, shots, "zhang-agents-grant")
    org.get_by_role("button", name="授权").click()
    expect(zhang.locator("#agents-message")).to_be_visible()
    expect(zhang.locator(f"#org-{COMPANY[1]} .agent-pending")).to_contain_text("待接受")

    # 6. 李四 accepts, then signs in to the portal acting for the company.
    li.goto(f"{issuer}/account/agents")
    heading(li, "单位经办人")
    invitation = li.locator("#invitations li")
    expect(invitation).to_contain_text(COMPANY[0])
    fits(li, shots, "li-invitation", invitation.get_by_role("button", name="接受"))
    invitation.get_by_role("button", name="接受").click()
    expect(li.locator("#agencies")).to_contain_text(COMPANY[0])
    li.goto(rp.base + "/")
    expect(li.locator("#status")).to_contain_text("未登录")
    li.get_by_role("link", name="登录").click()
    at(li, f"{issuer}/authorize")  # already signed in at Yitong since her sign-up: consent first
    heading(li, "授权确认")
    expect(li.locator("main")).to_contain_text(f"{PORTAL} 请求访问")
    expect(li.locator("main")).to_contain_text("代表单位")
    fits(li, shots, "li-consent", li.get_by_role("button", name="同意"))
    li.get_by_role("button", name="同意").click()
    heading(li, "选择办事身份")
    choice = li.get_by_role("radio", name=re.compile(COMPANY[0]))
    expect(choice).to_be_visible()
    expect(li.get_by_role("radio", name="以个人身份办理")).to_be_visible()
    fits(li, shots, "li-choose-organisation", li.get_by_role("button", name="继续"))
    choice.check()
    li.get_by_role("button", name="继续").click()
    at(li, f"{rp.base}/cb")
    expect(li.locator("#status")).to_contain_text("登录成功")
    expect(li.locator("#org-name")).to_have_text(COMPANY[0])
    expect(li.locator("#org-uscc")).to_have_text(COMPANY[1])
    fits(li, shots, "li-portal-acting")
    claims = rp.sign_ins[-1]
    assert claims["org"] == {"uscc": COMPANY[1], "name": COMPANY[0], "roles": ["*"], "acting_as": True,
                             "acr": "urn:yitong:loa:2"}, claims
    assert rp.errors == []

    # 7. Her account console shows the agency, this phone's session and the portal's consent.
    li.goto(f"{issuer}/account")
    heading(li, "我的账号")
    expect(li.locator("#profile-phone")).to_have_text(re.compile(r"137\*\*\*\*4321"))
    expect(li.locator("#profile-id-number")).to_have_text(f"{LI[1][:6]}********{LI[1][-4:]}")
    expect(li.locator("#realname-status")).to_contain_text("已实名")
    expect(li.locator("#count-acting")).to_have_text("1")
    expect(li.locator("#session-list li.current")).to_contain_text("本设备")
    expect(li.locator("#consent-list")).to_contain_text(PORTAL)
    expect(li.locator("#event-list")).to_contain_text("登录成功")
    assert LI[1] not in li.content() and LI_PHONE not in li.content()
    fits(li, shots, "li-account-console")
    li.goto(f"{issuer}/account?lang=en")
    heading(li, "My account")
    expect(li.locator("#h-consents")).to_have_text("Services you allowed")
    fits(li, shots, "li-account-console-en")
    li.goto(f"{issuer}/account?lang=zh-CN")
    li.locator("#consent-list li").filter(has_text=PORTAL).get_by_role("button", name="撤回授权").click()
    expect(li.locator("#console-message")).to_contain_text("已撤回授权")
    expect(li.locator("#consents")).to_contain_text("您尚未授权任何服务")

    # 8. 张三 forgot his password. His sign-up text came less than a minute ago, so the per-number
    #    limit (one a minute) stops a new one: a wrong CAPTCHA answer first (a new picture, nothing
    #    sent), then the right one: 429 with Retry-After and a page saying how long to wait.
    zhang.goto(f"{issuer}/login")
    zhang.get_by_role("link", name=re.compile("忘记密码")).click()
    at(zhang, f"{issuer}/password/reset")
    heading(zhang, "找回密码")
    retry_after = sms_limit_reached(zhang, site, ZHANG_PHONE, shots, "zhang-sms-limit")

    # 9. He waits as long as the page said (the server's clock moves on that far), asks again, resets
    #    his password by SMS code and signs in with the new one.
    site.advance_clock(retry_after + 1)
    zhang.goto(f"{issuer}/password/reset")
    code = ask_for_code(zhang, site, ZHANG_PHONE, shots=shots, name="zhang-reset-phone")
    zhang.get_by_label("短信验证码（6位数字）").fill(code)
    zhang.get_by_label("设置密码（至少10个字符）").fill(NEW_PASSWORD)
    zhang.get_by_label("再次输入密码").fill(NEW_PASSWORD)
    zhang.get_by_role("button", name="重置密码").click()
    expect(zhang.locator("#reset-success")).to_contain_text("密码已重置")
    fits(zhang, shots, "zhang-reset-done")
    zhang.get_by_role("link", name="登录").click()
    at(zhang, f"{issuer}/login")
    zhang.get_by_label("用户名或手机号").fill(ZHANG_PHONE)
    zhang.get_by_label("密码").fill(PASSWORD)  # the old password no longer works
    zhang.get_by_role("button", name="登录").click()
    expect(zhang.get_by_role("alert")).to_contain_text("用户名或密码错误")
    zhang.get_by_label("用户名或手机号").fill(ZHANG_PHONE)
    zhang.get_by_label("密码").fill(NEW_PASSWORD)
    zhang.get_by_role("button", name="登录").click()
    expect(zhang).to_have_url(f"{issuer}/")  # signed in: the sign-in page is gone
    zhang.goto(f"{issuer}/account")
    heading(zhang, "我的账号")
    expect(zhang.locator("#count-represented")).to_have_text("1")
    expect(zhang.locator("#count-agents")).to_have_text("1")
    expect(zhang.locator("#event-list")).to_contain_text("重置密码")
    fits(zhang, shots, "zhang-account-console")
    # He also signed in on a tablet; from his phone he signs out everywhere else.
    tablet = new_phone(browser)
    tablet.goto(f"{issuer}/login")
    tablet.get_by_label("用户名或手机号").fill(ZHANG_PHONE)
    tablet.get_by_label("密码").fill(NEW_PASSWORD)
    tablet.get_by_role("button", name="登录").click()
    expect(tablet).to_have_url(f"{issuer}/")
    zhang.reload()
    expect(zhang.locator("#session-list li")).to_have_count(2)
    zhang.get_by_role("button", name="退出其他所有设备").click()
    expect(zhang.locator("#console-message")).to_contain_text("已结束其他所有登录会话")
    expect(zhang.locator("#session-list li")).to_have_count(1)
    tablet.goto(f"{issuer}/account")
    at(tablet, f"{issuer}/login")  # the tablet is signed out

    # 10. And at once another code: the limit is there again.
    zhang.goto(f"{issuer}/password/reset")
    sms_limit_reached(zhang, site, ZHANG_PHONE, shots, "zhang-sms-limit-again")

    # Nothing went wrong on the server, and nothing secret reached its log or the audit trail.
    log = site.log.read_text(errors="replace")
    assert "Traceback" not in log and '" 500 ' not in log and '"status": 500' not in log, log[-3000:]  # text or JSON
    with sqlite3.connect(site.home / "yitong.db") as db:
        audit = json.dumps(db.execute("SELECT event, detail, user_agent FROM idp_audit").fetchall(),
                           ensure_ascii=False)
    codes = [m["code"] for m in json.loads("[" + ",".join(site.outbox.read_text().splitlines()) + "]")
             if m.get("code")]
    for secret in (ZHANG[1], LI[1], PASSWORD, NEW_PASSWORD, ZHANG_PHONE, LI_PHONE, *codes):
        assert secret not in log, f"{secret!r} in the server log"
        assert secret not in audit, f"{secret!r} in the audit trail"
