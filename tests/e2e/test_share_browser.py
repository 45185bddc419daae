"""Issue 15 item 6 in Debian's Chromium: another department's portal asks to read a person's
licence; the IdP's consent page names the licence type (from the catalogue) and the department;
the person allows it, the portal reads the licence through the sharing API with the token it got,
the person sees that use in the wallet's record of uses (用证记录), sees the consent on the account
page under the licence type's name, and withdraws it.

Screenshots at phone (390x844) and desktop (1280x800) size, in Chinese and in English, go to
tmp_path and to $YITONG_SHOTS_DIR when set; every photographed page is checked with axe-core."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.e2e.rp import RelyingParty
from tests.e2e.test_citizen_browser import axe_source, serious_violations  # noqa: F401  (fixture)
from tests.e2e.test_console_browser import _cli, _page, chromium  # noqa: F401  (fixture)
from tests.e2e.test_console_browser import _shot as _screenshot
from tests.e2e.test_wallet_browser import PASSWORD, wallet_site  # noqa: F401  (fixture)
from tests.helpers import clean_env
from tests.licence.support import QUALIFICATION

try:
    from playwright.sync_api import expect
except ImportError:
    expect = None

pytestmark = [pytest.mark.e2e]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
DEPARTMENT = "天津市人社局就业补贴系统"


@pytest.fixture
def share_site(wallet_site, tmp_path):  # noqa: F811
    """The wallet's site (wangxm with real name, a qualification certificate) and a department's portal."""
    issuer = wallet_site["issuer"]
    env = clean_env()
    env.update(YITONG_HOME=str(tmp_path / "home"), YITONG_ISSUER=issuer)
    rp = RelyingParty(issuer, host="127.0.0.1", scope=f"openid licence:read:{QUALIFICATION}",
                      resource=f"{issuer}/licences")
    portal = json.loads(_cli(env, "client", "create", "--name", DEPARTMENT, "--redirect-uri", rp.redirect_uri,
                             "--grant", "authorization_code", "--scope", f"openid licence:read:{QUALIFICATION}",
                             "--json"))
    rp.start(portal["client_id"], portal["client_secret"])
    try:
        yield {**wallet_site, "rp": rp}
    finally:
        rp.stop()


def _share(issuer: str, token: str, licence_id: str) -> dict:
    query = urllib.parse.urlencode({"purpose": "就业补贴审核"})
    request = urllib.request.Request(f"{issuer}/licences/api/v1/share/licences/{licence_id}?{query}",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def test_the_holder_consents_a_department_reads_the_licence_and_the_holder_withdraws(
        share_site, chromium, tmp_path, axe_source):  # noqa: F811
    issuer, rp, licence = share_site["issuer"], share_site["rp"], share_site["licence"]

    def _shot(page, name):
        _screenshot(page, tmp_path, name)
        assert serious_violations(page, axe_source) == [], name

    page = _page(chromium)
    page.set_viewport_size(PHONE)
    page.goto(f"{rp.base}/login")
    page.get_by_label("用户名或手机号").fill("wangxm")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("授权确认")
    asked = page.locator("main ul").last
    expect(asked).to_contain_text("读取您的电子证照：职业资格证书")
    expect(asked).to_contain_text("天津市示例人力资源和社会保障局签发")
    expect(page.locator("body")).to_contain_text(DEPARTMENT)
    _shot(page, "share-consent-phone")
    page.set_viewport_size(DESKTOP)
    _shot(page, "share-consent-desktop")
    page.goto(page.url + ("&" if "?" in page.url else "?") + "lang=en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Allow access")
    expect(page.locator("main ul").last).to_contain_text("Read your electronic licence: Professional Qualification")
    _shot(page, "share-consent-en-desktop")
    page.set_viewport_size(PHONE)
    _shot(page, "share-consent-en-phone")
    page.get_by_role("button", name="Allow").click()
    expect(page.locator("#status")).to_contain_text("登录成功")

    [signed_in] = rp.sessions.values()
    shared = _share(issuer, signed_in["access_token"], licence["licence_id"])
    assert shared["status"] == "valid" and shared["withheld"] == ["phone"] and "phone" not in shared["data"]
    page.goto(f"{rp.base}/login")  # consent on record: a second token at once, not used until after withdrawal
    expect(page.locator("#status")).to_contain_text("登录成功")
    [signed_in] = rp.sessions.values()
    unused = signed_in["access_token"]

    page.goto(f"{issuer}/licences/wallet?lang=zh-CN")
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(re.compile("^(授权确认|我的证照)$"))
    if heading.inner_text().strip() == "授权确认":  # the wallet is a client of its own
        page.get_by_role("button", name="同意").click()
    expect(heading).to_have_text("我的证照")
    uses = page.locator("#wallet-uses .use-shared")
    expect(uses).to_have_count(1)
    expect(uses).to_contain_text(DEPARTMENT)
    expect(uses).to_contain_text("获取证照数据")
    expect(uses).to_contain_text("依据您的授权")
    expect(uses).to_contain_text("就业补贴审核")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=page.locator("#licence-1 img").element_handle())
    _shot(page, "share-wallet-uses-phone")
    page.goto(f"{issuer}/licences/wallet?lang=en")
    expect(page.locator("#wallet-uses .use-shared")).to_contain_text("read its data, with your consent")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=page.locator("#licence-1 img").element_handle())
    page.set_viewport_size(DESKTOP)
    _shot(page, "share-wallet-uses-en-desktop")

    page.goto(f"{issuer}/account?lang=zh-CN")
    consent = page.locator("#consent-list li", has_text=DEPARTMENT)
    expect(consent).to_contain_text("读取您的电子证照：职业资格证书")
    consent.scroll_into_view_if_needed()
    _shot(page, "share-account-consent-desktop")
    consent.get_by_role("button", name=f"撤回授权: {DEPARTMENT}").click()
    # the form posts and the account page comes back by a 303: wait for that page, not only for
    # the old one to unload (a count of 0 also holds mid-navigation; CI met a null documentElement)
    page.wait_for_url(re.compile(r"/account\?done=consent"))
    expect(page.locator("#consent-list li", has_text=DEPARTMENT)).to_have_count(0)
    page.set_viewport_size(PHONE)
    _shot(page, "share-account-withdrawn-phone")
    with pytest.raises(urllib.error.HTTPError) as refused:  # the grant's tokens died with the consent
        _share(issuer, unused, licence["licence_id"])
    assert refused.value.code == 401
    page.goto(f"{rp.base}/login")  # the department must ask again
    expect(page.get_by_role("heading", level=1)).to_have_text("授权确认")
