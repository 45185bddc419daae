"""Issue 15 items 5 and 7 in Debian's Chromium: an agent of an organisation (idp/agents, the `licence`
role) opens 我的证照 and finds the organisation's licence in its own section, the face with the USCC
masked; a clerk pastes what the licence's 2D code holds into /verify/ and gets the verdict, and an
altered code is called forged. Phone (390x844) and desktop (1280x800), zh-CN and English; screenshots
to tmp_path and $YITONG_SHOTS_DIR when set; every page photographed is checked with axe-core."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.test_citizen_browser import axe_source, serious_violations  # noqa: F401  (fixture)
from tests.e2e.test_console_browser import _cli, _page, chromium  # noqa: F401  (fixture)
from tests.e2e.test_console_browser import _shot as _screenshot
from tests.e2e.test_wallet_browser import DESKTOP, PASSWORD, expect, fresh_home, open_wallet, serving
from tests.licence.support import FOOD, FOOD_DATA, SHOP_USCC, scan_code

pytestmark = [pytest.mark.e2e]
PHONE = {"width": 390, "height": 844}
PEOPLE = {"laoban": ("赵老板", "120101198506120030"), "jingban": ("王小明", "11010519491231002X")}


def _organisation_with_agent(env) -> None:
    """What the browser cannot do here without the base libraries: real names, the organisation's
    registration, and the agent's authorisation granted and accepted (the pages for those are idp's)."""
    from idp.agents.store import Agents
    from idp.identity import Identities, Organisations
    from yitong.home import Home
    from yitong.settings import Settings

    home = Home(Settings.from_env(env))
    identities, organisations = Identities(home.engine, home.keystore()), Organisations(home.engine)
    subs = {}
    for username, (name, id_number) in PEOPLE.items():
        made = json.loads(_cli(env, "user", "create", "--username", username, "--password-stdin", "--json",
                               stdin=f"{PASSWORD}\n".encode()))
        _cli(env, "user", "set-level", made["sub"], "urn:yitong:loa:2", "--reason", "窗口核验")
        identities.bind(made["sub"], id_type="resident", name=name, id_number=id_number,
                        trust_framework="cn_population_library", evidence={"type": "electronic_record"},
                        verified_at=datetime(2026, 11, 1, 8, 0, tzinfo=UTC))
        subs[username] = made["sub"]
    organisations.register(uscc=SHOP_USCC, name="天津市示例餐饮有限公司", legal_representative_sub=subs["laoban"],
                           acr="urn:yitong:loa:2", uscc_warnings=[], trust_framework="cn_legal_person_library",
                           evidence={})
    agents = Agents(home.engine, organisations, identities)
    agent = agents.grant(actor=subs["laoban"], uscc=SHOP_USCC, login="jingban", roles=["licence"],
                         expires_at=datetime.now(UTC) + timedelta(days=30))
    agents.decide(actor=subs["jingban"], agent_id=agent.agent_id, accept=True)
    home.engine.dispose()


@pytest.fixture
def site(tmp_path):
    issuer, env = fresh_home(tmp_path)
    _organisation_with_agent(env)
    data = tmp_path / "data.json"
    data.write_text(json.dumps(FOOD_DATA, ensure_ascii=False))
    issued = json.loads(_cli(env, "licence", "issue", "--type", FOOD, "--holder-id", SHOP_USCC, "--holder-name",
                             "天津市示例餐饮有限公司", "--data", str(data), "--format", "pdf",
                             "--out", str(tmp_path / "licence.pdf"), "--json"))
    code = scan_code((tmp_path / "licence.pdf").read_bytes(), tmp_path)
    with serving(env, issuer, tmp_path):
        yield {"issuer": issuer, "licence": issued, "code": code}


def test_an_agent_sees_the_organisations_licence_and_a_clerk_checks_its_code(site, chromium, tmp_path,  # noqa: F811
                                                                            axe_source):  # noqa: F811
    issuer, licence = site["issuer"], site["licence"]

    def _shot(page, name):
        _screenshot(page, tmp_path, name)
        assert serious_violations(page, axe_source) == [], name

    def _face_loaded(page, card):
        page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                               arg=card.locator("img").element_handle())

    page = _page(chromium)
    page.set_viewport_size(PHONE)
    open_wallet(page, issuer, "jingban")
    expect(page.locator(f"#org-{SHOP_USCC}")).to_contain_text("天津市示例餐饮有限公司")
    card = page.locator(f"#org-{SHOP_USCC}-1")
    expect(card).to_contain_text(licence["licence_id"])
    _face_loaded(page, card)
    _shot(page, "agent-wallet-zh-phone")
    page.set_viewport_size(DESKTOP)
    _shot(page, "agent-wallet-zh-desktop")
    page.goto(f"{issuer}/licences/wallet?lang=en")
    expect(page.locator(f"#org-{SHOP_USCC}")).to_contain_text("USCC")
    _face_loaded(page, page.locator(f"#org-{SHOP_USCC}-1"))
    _shot(page, "agent-wallet-en-desktop")
    page.set_viewport_size(PHONE)
    _shot(page, "agent-wallet-en-phone")

    clerk = _page(chromium)
    clerk.set_viewport_size(PHONE)
    clerk.goto(f"{issuer}/verify/")
    clerk.get_by_label(re.compile("粘贴证照二维码的内容")).fill(site["code"])
    clerk.get_by_role("button", name=re.compile("核验二维码")).click()
    result = clerk.locator("#code-result")
    expect(result).to_have_attribute("data-verdict", "valid")
    expect(clerk.locator("#code-licence-id")).to_contain_text(licence["licence_id"])
    expect(clerk.locator("#code-licence-id")).to_contain_text("校验码正确")
    expect(clerk.locator("#code-status")).to_have_attribute("data-status", "valid")
    _shot(clerk, "verify-code-valid-phone")
    clerk.set_viewport_size(DESKTOP)
    _shot(clerk, "verify-code-valid-desktop")
    compact = site["code"].split("?c=")[1]
    body, signature = compact.split(".")
    clerk.get_by_label(re.compile("粘贴证照二维码的内容")).fill(f"{body}.{signature[:-4]}AAAA")
    clerk.get_by_role("button", name=re.compile("核验二维码")).click()
    expect(result).to_have_attribute("data-verdict", re.compile("^(forged)$"))
    _shot(clerk, "verify-code-forged-desktop")
    clerk.set_viewport_size(PHONE)
    _shot(clerk, "verify-code-forged-phone")
