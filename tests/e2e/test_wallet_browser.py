"""Issue 15 item 5 in Debian's Chromium: a person with real name opens 我的证照 (the IdP signs
them in and asks consent once), sees a licence issued by `yitong licence issue` with its face,
shows it (the sensitive item off by default); a clerk's phone opens the code's page and sees the
items the holder allowed and the live status; the holder sees both in the record of uses.

Every page is checked with axe-core (WCAG 2.1 AA) where it is photographed. Screenshots at phone
(375x812) and desktop (1280x800) size go to tmp_path, and also to $YITONG_SHOTS_DIR when set (for
people to look at)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
from datetime import UTC, datetime

import pytest
import zxingcpp
from PIL import Image

from tests.e2e.test_citizen_browser import axe_source, serious_violations  # noqa: F401  (fixture)
from tests.e2e.test_console_browser import _cli, _page, chromium  # noqa: F401  (fixture)
from tests.e2e.test_console_browser import _shot as _screenshot
from tests.helpers import clean_env, free_port, wait_until_healthy
from tests.interop.harness import yitong_exe
from tests.licence.support import PERSON_ID, QUALIFICATION, QUALIFICATION_DATA

try:
    from playwright.sync_api import expect
except ImportError:
    expect = None

pytestmark = [pytest.mark.e2e]
PASSWORD = "Tianjin-2026-correct"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}


def _bind_real_name(env, sub: str) -> None:
    """What the browser cannot do here without the population library: record the real name (the
    person would at /account/realname)."""
    from idp.identity import Identities
    from yitong.home import Home
    from yitong.settings import Settings

    home = Home(Settings.from_env(env))
    Identities(home.engine, home.keystore()).bind(
        sub, id_type="resident", name="王小明", id_number=PERSON_ID, trust_framework="cn_population_library",
        evidence={"type": "electronic_record"}, verified_at=datetime(2026, 11, 1, 8, 0, tzinfo=UTC))
    home.engine.dispose()


@pytest.fixture
def wallet_site(tmp_path):
    issuer, env = fresh_home(tmp_path)
    made = json.loads(_cli(env, "user", "create", "--username", "wangxm", "--password-stdin", "--json",
                           stdin=f"{PASSWORD}\n".encode()))
    _bind_real_name(env, made["sub"])
    data = tmp_path / "data.json"
    data.write_text(json.dumps({**QUALIFICATION_DATA, "phone": "13800138000"}, ensure_ascii=False))
    issued = json.loads(_cli(env, "licence", "issue", "--type", QUALIFICATION, "--holder-id", PERSON_ID,
                             "--holder-name", "王小明", "--data", str(data), "--format", "ofd",
                             "--out", str(tmp_path / "licence.ofd"), "--json"))
    with serving(env, issuer, tmp_path):
        yield {"issuer": issuer, "licence": issued}


def fresh_home(tmp_path) -> tuple[str, dict]:
    """(issuer, environment) of a new home under tmp_path, migrated."""
    issuer = f"http://127.0.0.1:{free_port()}"
    env = clean_env()
    env.update(YITONG_HOME=str(tmp_path / "home"), YITONG_ISSUER=issuer)
    _cli(env, "db", "upgrade")
    return issuer, env


@contextlib.contextmanager
def serving(env: dict, issuer: str, tmp_path):
    """`yitong serve` on the issuer's port for the duration; its log's tail printed afterwards."""
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen([yitong_exe(), "serve", "--port", issuer.rsplit(":", 1)[1]], env=env,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_healthy(process, issuer, log.read_text)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        print(f"server log (tail):\n{log.read_text()[-3000:]}")


def open_wallet(page, issuer: str, username: str, on_consent=lambda: None) -> None:
    """Sign in at the wallet's IdP sign-in (and consent the first time) until 我的证照 shows."""
    page.goto(f"{issuer}/licences/wallet")
    page.get_by_label("用户名或手机号").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(re.compile("^(授权确认|我的证照)$"))
    if heading.inner_text().strip() == "授权确认":
        on_consent()
        page.get_by_role("button", name="同意").click()
    expect(heading).to_have_text("我的证照")


def test_the_holder_shows_a_licence_and_a_clerk_scans_it(wallet_site, chromium, tmp_path, axe_source):  # noqa: F811
    issuer, licence = wallet_site["issuer"], wallet_site["licence"]

    def _shot(page, folder, name):
        """The screenshot, no sideways scrolling, no CSP violation, and no serious axe-core finding."""
        _screenshot(page, folder, name)
        assert serious_violations(page, axe_source) == [], name

    page = _page(chromium)
    page.set_viewport_size(PHONE)
    open_wallet(page, issuer, "wangxm", on_consent=lambda: _shot(page, tmp_path, "wallet-consent-phone"))
    card = page.locator("#licence-1")
    expect(card).to_contain_text(licence["licence_id"])
    expect(card).to_contain_text("有效")
    face = card.locator("img")
    expect(face).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=face.element_handle())
    assert page.evaluate("img => img.naturalWidth", face.element_handle()) == 900  # the rendered OFD page
    _shot(page, tmp_path, "wallet-phone")
    page.set_viewport_size(DESKTOP)
    _shot(page, tmp_path, "wallet-desktop")

    page.get_by_role("link", name="亮证").click()
    expect(page.get_by_label("联系电话")).not_to_be_checked()  # sensitive: off by default
    expect(page.get_by_label("职业（工种）")).to_be_checked()
    page.get_by_label("性别").uncheck()
    _shot(page, tmp_path, "wallet-choose-desktop")
    page.get_by_role("button", name="生成亮证码").click()
    qr = page.locator("#showing-qr")
    expect(qr).to_be_visible()
    page.set_viewport_size(PHONE)
    _shot(page, tmp_path, "wallet-showing-phone")
    [code] = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr.screenshot())))  # read as a phone camera would
    assert code.text.startswith(f"{issuer}/licences/show?c=")

    clerk = _page(chromium)
    clerk.set_viewport_size(PHONE)
    clerk.goto(code.text)
    expect(clerk.locator("#scan-status")).to_have_text("有效")
    items = clerk.locator("#scan-items")
    expect(items).to_contain_text("电工")
    expect(items).not_to_contain_text("13800138000")
    expect(items).not_to_contain_text("性别")
    expect(clerk.locator("#scan-face")).to_be_visible()
    clerk.wait_for_function("img => img.complete && img.naturalWidth > 0",
                            arg=clerk.locator("#scan-face").element_handle())
    _shot(clerk, tmp_path, "scan-phone")
    clerk.set_viewport_size(DESKTOP)
    _shot(clerk, tmp_path, "scan-desktop")
    clerk.goto(code.text[:-2] + ("AA" if not code.text.endswith("AA") else "BB"))
    expect(clerk.locator("#scan-refused")).to_be_visible()
    clerk.set_viewport_size(PHONE)
    _shot(clerk, tmp_path, "scan-forged-phone")

    page.goto(f"{issuer}/licences/wallet?lang=en")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=page.locator("#licence-1 img").element_handle())
    expect(page.locator("#wallet-uses")).to_contain_text("Viewed by a scan")
    expect(page.locator("#wallet-uses")).to_contain_text("Shown")
    _shot(page, tmp_path, "wallet-uses-en-phone")
