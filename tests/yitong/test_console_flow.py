"""The operator console (/admin/) driven through the Flask app: OIDC sign-in with PKCE at loa:3
with TOTP, the security administrator's seal actions, the audit administrator's view."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pyotp
import pytest

from idp.operators import Operators
from tests.idp.support import PASSWORD, login, make_idp
from tests.seal.support import ORG_NAME, ORG_USCC

pytestmark = pytest.mark.storage


def _follow(web, response, limit=12):
    for _ in range(limit):
        if response.status_code not in (302, 303):
            return response
        target = urlsplit(response.headers["Location"])
        response = web.get(target.path + ("?" + target.query if target.query else ""))
    return response


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _operator(idp, username: str, role: str, by: str | None):
    person = idp.accounts.create(username=username, password=PASSWORD)
    idp.accounts.set_level(person.sub, "urn:yitong:loa:3")
    secret = pyotp.random_base32()
    idp.accounts.enrol_totp(person.sub, secret)
    Operators(idp.home.engine).grant(person.sub, role, by=by)
    return person, pyotp.TOTP(secret)


def sign_in(idp, web, username: str, totp) -> object:
    start = web.get("/admin/")
    assert start.headers["Location"].endswith("/admin/login")
    authorize = web.get("/admin/login")
    target = urlsplit(authorize.headers["Location"])
    answer = web.get(target.path + "?" + target.query)
    assert answer.status_code in (302, 303)
    return_to = authorize.headers["Location"]
    done = login(web, username, return_to=return_to[return_to.index("/authorize"):])
    assert done.headers["Location"] == "/login/mfa", done.headers
    page = web.get("/login/mfa").get_data(as_text=True)
    answer = web.post("/login/mfa", data={"csrf": _csrf(page), "code": totp.now()})
    answer = _follow(web, answer)
    if answer.status_code == 200 and 'action="/consent"' in answer.get_data(as_text=True):
        page = answer.get_data(as_text=True)
        return_to = re.search(r'name="return_to" value="([^"]+)"', page).group(1).replace("&amp;", "&")
        answer = _follow(web, web.post("/consent", data={"csrf": _csrf(page), "return_to": return_to,
                                                         "decision": "allow"}))
        page = answer.get_data(as_text=True)
        if answer.status_code == 200 and 'action="/consent"' in page:
            return_to = re.search(r'name="return_to" value="([^"]+)"', page).group(1).replace("&amp;", "&")
            answer = _follow(web, web.post("/consent", data={"csrf": _csrf(page), "return_to": return_to,
                                                             "decision": "allow"}))
    return answer


def test_security_admin_approves_and_suspends_and_the_audit_admin_sees_it(storage, tmp_path):
    idp = make_idp(storage, tmp_path, with_pki=True)
    Operators(idp.home.engine).grant("root", "system", by=None)
    security, security_totp = _operator(idp, "anquan", "security", "root")
    _, audit_totp = _operator(idp, "shenji", "audit", "root")
    applicant = idp.accounts.create(username="shenqing", password=PASSWORD)
    registry = idp.app.extensions["yitong.seal"]["registry"]()
    esid = registry.apply(holder_kind="org", holder_id=ORG_USCC, holder_name=ORG_NAME, seal_type=6,
                          algorithm="sm2", actor=f"idp:{applicant.sub}", reason="新设").esid
    web = idp.app.test_client()
    home = sign_in(idp, web, "anquan", security_totp)
    assert home.status_code == 200, home.get_data(as_text=True)[:500]
    assert "security" in home.get_data(as_text=True)
    page = web.get(f"/admin/seals/{esid}").get_data(as_text=True)
    for action in ("approve", "make"):
        done = web.post(f"/admin/seals/{esid}/{action}", data={"csrf": _csrf(page), "reason": "材料齐全"})
        assert done.status_code == 302, done.get_data(as_text=True)[:800]
    ask = web.post(f"/admin/seals/{esid}/suspend", data={"csrf": _csrf(page), "reason": "印章遗失"})
    assert ask.status_code == 200 and 'name="confirmed"' in ask.get_data(as_text=True)
    done = web.post(f"/admin/seals/{esid}/suspend", data={"csrf": _csrf(page), "reason": "印章遗失",
                                                          "confirmed": "yes"})
    assert done.status_code == 302
    assert registry.get(esid).status == "suspended"
    audit_page = web.get("/admin/audit").get_data(as_text=True)
    assert "managed by the audit administrator" in audit_page  # the server's role check, shown
    auditor_web = idp.app.test_client()
    assert sign_in(idp, auditor_web, "shenji", audit_totp).status_code == 200
    audit_page = auditor_web.get("/admin/audit").get_data(as_text=True)
    assert 'id="chain"' in audit_page and "完整" in audit_page
    # The audit administrator sees both actions in the seal's history, and has no buttons that work.
    history = auditor_web.get(f"/admin/seals/{esid}").get_data(as_text=True)
    assert history.count(f"operator:{security.sub}") == 3 and "approved" in history and "suspended" in history
    refused = auditor_web.post(f"/admin/seals/{esid}/resume", data={"csrf": _csrf(history), "reason": "x"})
    assert "managed by the security administrator" in refused.get_data(as_text=True)
    assert registry.get(esid).status == "suspended"
