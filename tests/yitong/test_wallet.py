"""The holder's wallet (/licences/wallet) and showing (亮证) driven through the Flask app: sign-in
through the IdP as the wallet's OIDC client, licences matched by the verified ID number, face
images, downloads, a showing's QR code read by zxing-cpp, the clerk's page, forged and expired
codes, and the record of uses."""

from __future__ import annotations

import base64
import hashlib
import io
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import zxingcpp
from PIL import Image, ImageChops

from licence.library import IssueRequest
from licence.showing import Showings
from tests.idp.support import PASSWORD, login, make_idp, through_consent
from tests.licence.support import PERSON_ID, QUALIFICATION, QUALIFICATION_DATA
from yitong.wallet import render_face

pytestmark = pytest.mark.storage
EVIDENCE = {"type": "electronic_record", "check_details": [{"check_method": "data", "organization": "baselib"}],
            "time": "2026-11-01T08:00:00+00:00"}
OTHER_ID = "110105198001010016"


def _follow(web, response, limit=12):
    for _ in range(limit):
        if response.status_code not in (302, 303):
            return response
        target = urlsplit(response.headers["Location"])
        response = web.get(target.path + ("?" + target.query if target.query else ""))
    return response


def _person(idp, username: str, id_number: str | None):
    person = idp.accounts.create(username=username, password=PASSWORD)
    if id_number:
        identities = idp.app.extensions["yitong.idp"].identities
        identities.bind(person.sub, id_type="resident", name="王小明", id_number=id_number,
                        trust_framework="cn_population_library", evidence=EVIDENCE,
                        verified_at=datetime(2026, 11, 1, 8, 0, tzinfo=UTC))
        idp.accounts.raise_level(person.sub, "urn:yitong:loa:2")
    return person


def open_wallet(web, username: str, path: str = "/licences/wallet"):
    """Open the wallet: the IdP asks the person to sign in (and consent once), then back to the wallet."""
    start = web.get(path)
    assert start.status_code == 302 and start.headers["Location"].startswith("/authorize?"), start.headers
    authorize = _follow(web, start)
    return_to = start.headers["Location"]
    if authorize.request.path == "/login":
        answer = login(web, username, return_to=return_to)
        answer = through_consent(web, _follow(web, answer))
        return _follow(web, answer)
    return authorize


@pytest.fixture
def idp(storage, tmp_path):
    idp = make_idp(storage, tmp_path, with_pki=True)
    if idp.app.extensions["yitong.licence"]["library"]().catalogue.get(QUALIFICATION) is None:
        pytest.fail("the sample licence types were not provisioned (CJK font missing?)")
    return idp


def _issue(idp, holder_id: str, fmt: str):
    library = idp.app.extensions["yitong.licence"]["library"]()
    return library.issue(IssueRequest(QUALIFICATION, holder_id, "王小明",
                                      {**QUALIFICATION_DATA, "phone": "13800138000"}, format=fmt), actor="test")


def test_the_holder_sees_downloads_and_shows_a_licence_and_the_clerk_scans_it(idp):
    _person(idp, "wangxm", PERSON_ID)
    pdf, ofd = _issue(idp, PERSON_ID, "pdf"), _issue(idp, PERSON_ID, "ofd")
    someone_else = _issue(idp, OTHER_ID, "pdf")
    web = idp.app.test_client()
    page = open_wallet(web, "wangxm")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.request.path == "/licences/wallet", html[:600]
    assert pdf.licence_id in html and ofd.licence_id in html and someone_else.licence_id not in html
    assert PERSON_ID not in html and "110105********002X" in html.replace(" ", "")  # masked only
    # Signed in, the wallet opens straight away (the IdP's session and the wallet's token).
    assert web.get("/licences/wallet").status_code == 200
    for licence in (pdf, ofd):
        face = web.get(f"/licences/wallet/{licence.licence_id}/face.png")
        assert face.status_code == 200 and face.content_type == "image/png"
        image = Image.open(io.BytesIO(face.data))
        assert image.width == 900 and image.height > 500  # an A4 landscape face
        download = web.get(f"/licences/wallet/{licence.licence_id}/file")
        assert download.status_code == 200 and hashlib.sha256(download.data).hexdigest() == licence.sha256
        # The displayed face masks the ID number: it differs from the sealed file's own drawing in that
        # one printed line only (the file keeps the full number).
        with idp.app.app_context():
            drawn = Image.open(io.BytesIO(render_face(licence.format, download.data))).convert("RGB")
        changed = ImageChops.difference(drawn, image.convert("RGB")).getbbox()
        assert changed is not None and changed[3] - changed[1] < 30 and changed[2] - changed[0] < 300, changed
        assert PERSON_ID.encode() in download.data or licence.format == "ofd"
    assert web.get(f"/licences/wallet/{someone_else.licence_id}/file").status_code == 404
    assert web.get(f"/licences/wallet/{someone_else.licence_id}/face.png").status_code == 404

    # Showing: the choice page has the sensitive phone off by default.
    choose = web.get(f"/licences/wallet/{pdf.licence_id}/show").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', choose).group(1)
    checked = set(re.findall(r'name="item" value="([^"]+)" checked', choose))
    assert checked == {"_face", "sex", "occupation", "level", "assessed_on"}
    assert web.post(f"/licences/wallet/{pdf.licence_id}/show", data={"csrf": "forged", "item": ["sex"]}
                    ).status_code == 400
    shown = web.post(f"/licences/wallet/{pdf.licence_id}/show",
                     data={"csrf": csrf, "item": ["_face", "occupation", "level"]})
    assert shown.status_code == 200
    qr = re.search(r'id="showing-qr" src="data:image/png;base64,([^"]+)"', shown.get_data(as_text=True)).group(1)
    [code] = zxingcpp.read_barcodes(Image.open(io.BytesIO(base64.b64decode(qr))))
    url = urlsplit(code.text)
    assert url.path == "/licences/show" and url.query.startswith("c=")
    target = f"{url.path}?{url.query}"

    clerk = idp.app.test_client()  # another phone, nobody signed in
    scan = clerk.get(target)
    text = scan.get_data(as_text=True)
    assert scan.status_code == 200 and 'id="scan-status"' in text and ("有效" in text or "Valid" in text)
    assert "电工" in text and "三级/高级工" in text  # the items the holder allowed
    assert "王小明" in text and PERSON_ID not in text  # the holder's name, the ID number masked
    assert "13800138000" not in text and "女" not in text  # the phone (sensitive) and sex were not chosen
    face = clerk.get(f"/licences/show/face.png?{url.query}")
    assert face.status_code == 200 and face.content_type == "image/png"
    assert face.data == web.get(f"/licences/wallet/{pdf.licence_id}/face.png").data  # masked here too

    # The live status: revoked after the showing, the clerk's page says so.
    idp.app.extensions["yitong.licence"]["library"]().revoke(pdf.licence_id, reason="吊销", actor="test")
    assert "已吊销" in clerk.get(target, headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)

    # A forged or altered code, and an expired one (made with a clock ten minutes back).
    token = parse_qs(url.query)["c"][0]
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    refused = clerk.get("/licences/show", query_string={"c": altered})
    assert refused.status_code == 400 and 'data-kind="forged"' in refused.get_data(as_text=True)
    assert clerk.get("/licences/show/face.png", query_string={"c": altered}).status_code == 404
    library = idp.app.extensions["yitong.licence"]["library"]()
    old = Showings(idp.home.engine, idp.home.keystore().secret("licence-showing", 32),
                   clock=lambda: datetime.now(UTC) - timedelta(minutes=10), audit_chain=idp.home.audit_chain())
    stale = old.show(ofd.licence_id, library.catalogue.get(QUALIFICATION), holder_sub="x", items=["level"])
    expired = clerk.get("/licences/show", query_string={"c": stale.token})
    assert expired.status_code == 410 and 'data-kind="expired"' in expired.get_data(as_text=True)

    # 用证记录: the showing and the two views of it (the face image is not another view).
    uses = web.get("/licences/wallet").get_data(as_text=True)
    assert uses.count('class="use-shown"') == 2 and uses.count('class="use-viewed"') == 2


def test_a_person_without_real_name_is_told_what_to_do(idp):
    _person(idp, "meishiming", None)
    web = idp.app.test_client()
    page = open_wallet(web, "meishiming")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="wallet-needs-realname"' in html and 'href="/account/realname"' in html


def test_a_person_signed_in_passes_straight_from_the_account_page_to_the_wallet(idp):
    _person(idp, "lianjie", PERSON_ID)
    web = idp.app.test_client()
    login(web, "lianjie")
    assert 'id="account-wallet" href="/licences/wallet"' in web.get("/account").get_data(as_text=True)
    answer = through_consent(web, _follow(web, web.get("/licences/wallet")))  # no sign-in form: the IdP's SSO
    wallet = _follow(web, answer)
    assert wallet.request.path == "/licences/wallet" and 'id="wallet-empty"' in wallet.get_data(as_text=True)
    # The consent is remembered: the next time the wallet's sign-in goes through without a page.
    with web.session_transaction() as session:
        session.pop("wallet_token")
    again = _follow(web, web.get("/licences/wallet"))
    assert again.request.path == "/licences/wallet" and again.status_code == 200


OTHER_USCC = "91120101MA06XY8KXW"
KEEPER_ID = "120101198506120030"


def test_an_agent_sees_downloads_and_shows_the_organisations_licences_until_revoked(idp):
    """Item 5 of issue 15: a person acting for an organisation (idp/agents) has its licences in a section of
    their wallet; another organisation's licence stays invisible; revoking the agent ends it at the next request."""
    from datetime import datetime as clock

    from tests.licence.support import food

    services = idp.app.extensions["yitong.idp"]
    boss = _person(idp, "zhaolaoban", OTHER_ID)
    agent = _person(idp, "jingbanren", PERSON_ID)
    services.organisations.register(uscc=food().holder_id, name="天津市示例餐饮有限公司",
                                    legal_representative_sub=boss.sub, acr="urn:yitong:loa:2", uscc_warnings=[],
                                    trust_framework="cn_legal_person_library", evidence={})
    granted = services.agents.grant(actor=boss.sub, uscc=food().holder_id, login="jingbanren", roles=["licence"],
                                    expires_at=clock.now(UTC) + timedelta(days=30))
    library = idp.app.extensions["yitong.licence"]["library"]()
    shop = library.issue(food(format="ofd"), actor="test")
    other = library.issue(food("别家公司", holder_id=OTHER_USCC), actor="test")
    web = idp.app.test_client()

    # Invited but not yet accepted: no organisation section.
    html = open_wallet(web, "jingbanren").get_data(as_text=True)
    assert f'id="org-{food().holder_id}"' not in html and shop.licence_id not in html
    assert web.get(f"/licences/wallet/{shop.licence_id}/file").status_code == 404

    services.agents.decide(actor=agent.sub, agent_id=granted.agent_id, accept=True)
    html = web.get("/licences/wallet").get_data(as_text=True)
    assert f'id="org-{food().holder_id}"' in html and "天津市示例餐饮有限公司" in html
    assert shop.licence_id in html and other.licence_id not in html
    download = web.get(f"/licences/wallet/{shop.licence_id}/file")
    assert download.status_code == 200 and hashlib.sha256(download.data).hexdigest() == shop.sha256
    assert web.get(f"/licences/wallet/{shop.licence_id}/face.png").status_code == 200
    choose = web.get(f"/licences/wallet/{shop.licence_id}/show").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', choose).group(1)
    shown = web.post(f"/licences/wallet/{shop.licence_id}/show", data={"csrf": csrf, "item": ["_face"]})
    assert shown.status_code == 200 and 'id="showing-qr"' in shown.get_data(as_text=True)
    # Another organisation's licence: refused as if it did not exist, for every action.
    for path in ("file", "face.png", "show"):
        assert web.get(f"/licences/wallet/{other.licence_id}/{path}").status_code == 404
    assert web.post(f"/licences/wallet/{other.licence_id}/show", data={"csrf": csrf}).status_code == 404

    # Revoked by the legal representative: gone at the very next request, the same browser session.
    services.agents.revoke(actor=boss.sub, agent_id=granted.agent_id)
    html = web.get("/licences/wallet").get_data(as_text=True)
    assert shop.licence_id not in html and f'id="org-{food().holder_id}"' not in html
    for path in ("file", "face.png", "show"):
        assert web.get(f"/licences/wallet/{shop.licence_id}/{path}").status_code == 404
    assert web.post(f"/licences/wallet/{shop.licence_id}/show", data={"csrf": csrf}).status_code == 404


    # An agent whose mandate names other roles only (seal_keeper) reaches no licence; the legal
    # representative sees the organisation's licences in a section beside their own.
    keeper = _person(idp, "yinzhang", KEEPER_ID)
    sealing = services.agents.grant(actor=boss.sub, uscc=food().holder_id, login="yinzhang", roles=["seal_keeper"],
                                    expires_at=clock.now(UTC) + timedelta(days=30))
    services.agents.decide(actor=keeper.sub, agent_id=sealing.agent_id, accept=True)
    keeper_web = idp.app.test_client()
    assert shop.licence_id not in open_wallet(keeper_web, "yinzhang").get_data(as_text=True)
    assert keeper_web.get(f"/licences/wallet/{shop.licence_id}/file").status_code == 404
    boss_web = idp.app.test_client()
    html = open_wallet(boss_web, "zhaolaoban").get_data(as_text=True)
    assert shop.licence_id in html and 'id="h-mine"' in html and other.licence_id not in html
    assert boss_web.get(f"/licences/wallet/{shop.licence_id}/file").status_code == 200
