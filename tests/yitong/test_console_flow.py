"""The operator console (/admin/) driven through the Flask app: OIDC sign-in with PKCE at loa:3
with TOTP, the security administrator's seal actions, the audit administrator's view."""

from __future__ import annotations

import html
import re
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pyotp
import pytest

from idp.audit import Audit
from idp.operators import Operators
from keys.storage import utcnow
from tests.baselib.server import COMPANY, ZHAO
from tests.idp.support import PASSWORD, login, make_idp
from tests.licence.support import FOOD, SHOP_USCC, food
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
    # The audit page lists the seal actions too, with who took them, and the seal chains whole.
    seal_rows = audit_page[audit_page.index('id="seal-events"'):]
    for event in ("approved", "suspended"):
        assert re.search(rf"<td>{event}</td><td><a href=\"/admin/seals/{esid}\">{esid}</a></td><td>[^<]*</td>"
                         rf"<td[^>]*>operator:{security.sub}</td>", seal_rows), event
    assert 'class="ok chain-seal_events"' in audit_page and 'class="ok chain-seal_usage"' in audit_page
    # The audit administrator sees both actions in the seal's history, and has no buttons that work.
    history = auditor_web.get(f"/admin/seals/{esid}").get_data(as_text=True)
    assert history.count(f"operator:{security.sub}") == 3 and "approved" in history and "suspended" in history
    refused = auditor_web.post(f"/admin/seals/{esid}/resume", data={"csrf": _csrf(history), "reason": "x"})
    assert "managed by the security administrator" in refused.get_data(as_text=True)
    assert registry.get(esid).status == "suspended"


def test_the_system_administrator_sees_clients_and_keys_and_nothing_of_the_others(storage, tmp_path):
    idp = make_idp(storage, tmp_path, with_pki=True)
    Operators(idp.home.engine).grant("root", "system", by=None)
    _, totp = _operator(idp, "xitong", "system", "root")
    web = idp.app.test_client()
    assert sign_in(idp, web, "xitong", totp).status_code == 200
    clients = web.get("/admin/clients?lang=en").get_data(as_text=True)
    assert "yitong-console" in clients and "yitong-seal-api" in clients and "Clients" in clients
    keys = web.get("/admin/keys").get_data(as_text=True)
    assert keys.count("<tr>") >= 3 and "token" in keys and "tsa" in keys
    assert "managed by the security administrator" in web.get("/admin/seals").get_data(as_text=True)
    assert "managed by the audit administrator" in web.get("/admin/audit").get_data(as_text=True)
    forged = web.post("/admin/seals/12000000000001/approve", data={"csrf": "wrong", "reason": "x"})
    assert forged.status_code == 400  # CSRF


def test_the_system_administrator_grants_and_revokes_operator_roles_but_never_their_own(storage, tmp_path):
    idp = make_idp(storage, tmp_path, with_pki=True)
    Operators(idp.home.engine).grant("root", "system", by=None)
    me, totp = _operator(idp, "xitong", "system", "root")
    _, audit_totp = _operator(idp, "shenji", "audit", "root")
    newcomer = idp.accounts.create(username="xinren", password=PASSWORD)
    web = idp.app.test_client()
    assert sign_in(idp, web, "xitong", totp).status_code == 200
    page = web.get("/admin/operators").get_data(as_text=True)
    assert "shenji" in page and "审计管理员" in page and "安装时" not in page.split("shenji")[0][-200:]
    assert f'action="/admin/operators/{me.sub}/revoke"' not in page  # no button for one's own role
    ask = web.post("/admin/operators/grant", data={"csrf": _csrf(page), "account": "xinren", "role": "security"})
    confirm = ask.get_data(as_text=True)
    assert ask.status_code == 200 and "确定要授予 xinren 安全管理员角色吗" in confirm
    assert Operators(idp.home.engine).role_of(newcomer.sub) is None  # nothing before the confirmation
    done = web.post('/admin/operators/grant?account=xinren&role=security',
                    data={"csrf": _csrf(confirm), "confirmed": "yes", "reason": "安全岗位轮换"})
    assert done.status_code == 302 and Operators(idp.home.engine).role_of(newcomer.sub) == "security"
    typo = web.post('/admin/operators/grant?account=xinrne&role=audit',
                    data={"csrf": _csrf(confirm), "confirmed": "yes", "reason": "x"})
    assert "no account or client 'xinrne'" in html.unescape(typo.get_data(as_text=True))  # no role for nobody
    page = web.get("/admin/operators?lang=en").get_data(as_text=True)
    assert "xinren" in page and "security administrator" in page
    # Revoking: confirmed with a reason, sent as DELETE to the API; one's own role is refused there.
    ask = web.post(f"/admin/operators/{newcomer.sub}/revoke", data={"csrf": _csrf(page)})
    assert 'name="confirmed"' in ask.get_data(as_text=True)
    done = web.post(f"/admin/operators/{newcomer.sub}/revoke",
                    data={"csrf": _csrf(page), "confirmed": "yes", "reason": "调岗"})
    assert done.status_code == 302 and Operators(idp.home.engine).role_of(newcomer.sub) is None
    own = web.post(f"/admin/operators/{me.sub}/revoke", data={"csrf": _csrf(page), "confirmed": "yes", "reason": "x"})
    assert "no operator grants or revokes a role of their own" in html.unescape(own.get_data(as_text=True))
    assert Operators(idp.home.engine).role_of(me.sub) == "system"
    # The audit administrator reads the trace, and may not grant.
    auditor = idp.app.test_client()
    assert sign_in(idp, auditor, "shenji", audit_totp).status_code == 200
    trail = auditor.get("/admin/audit").get_data(as_text=True)
    assert "operator.granted" in trail and "安全岗位轮换" in trail and "operator.revoked" in trail and "调岗" in trail
    refused = auditor.post('/admin/operators/grant?account=shenji&role=system',
                           data={"csrf": _csrf(trail), "confirmed": "yes", "reason": "x"})
    assert "managed by the system administrator" in refused.get_data(as_text=True)
    assert Operators(idp.home.engine).role_of(newcomer.sub) is None


def test_a_sign_in_below_loa3_never_reaches_the_console(storage, tmp_path):
    idp = make_idp(storage, tmp_path)
    person = idp.accounts.create(username="ruomima", password=PASSWORD)  # loa:1, no second factor
    Operators(idp.home.engine).grant(person.sub, "system", by=None)
    web = idp.app.test_client()
    authorize = web.get("/admin/login").headers["Location"]
    answer = _follow(web, login(web, "ruomima", return_to=authorize[authorize.index("/authorize"):]))
    page = answer.get_data(as_text=True)
    if answer.status_code == 200 and 'action="/consent"' in page:
        return_to = re.search(r'name="return_to" value="([^"]+)"', page).group(1).replace("&amp;", "&")
        answer = _follow(web, web.post("/consent", data={"csrf": _csrf(page), "return_to": return_to,
                                                         "decision": "allow"}))
    # The IdP cannot meet acr_values=loa:3 for a password-only account (OIDC Core §3.1.2.6).
    assert answer.status_code == 403 and answer.request.path == "/admin/callback"
    assert "unmet_authentication_requirements" in answer.get_data(as_text=True)
    assert web.get("/admin/").headers["Location"].endswith("/admin/login")  # still not signed in to the console


def test_the_security_administrator_locks_and_unlocks_an_account_with_a_confirmed_reason(storage, tmp_path):
    idp = make_idp(storage, tmp_path, with_pki=True)
    Operators(idp.home.engine).grant("root", "system", by=None)
    _, totp = _operator(idp, "anquan", "security", "root")
    _, audit_totp = _operator(idp, "shenji", "audit", "root")
    person = idp.accounts.create(username="lisi", password=PASSWORD)
    web = idp.app.test_client()
    assert sign_in(idp, web, "anquan", totp).status_code == 200
    listing = web.get("/admin/users?q=lisi").get_data(as_text=True)
    assert f'action="/admin/users/{person.sub}/lock"' in listing and "锁定" in listing
    ask = web.post(f"/admin/users/{person.sub}/lock", data={"csrf": _csrf(listing)})
    page = ask.get_data(as_text=True)
    assert ask.status_code == 200 and 'name="confirmed"' in page and f"确定要锁定账户 {person.sub}" in page
    assert not idp.accounts.locked(person.sub)  # nothing happens before the confirmation
    unreasoned = web.post(f"/admin/users/{person.sub}/lock", data={"csrf": _csrf(page), "confirmed": "yes"})
    assert 'name="confirmed"' in unreasoned.get_data(as_text=True)  # no reason: asked again
    assert not idp.accounts.locked(person.sub)
    done = web.post(f"/admin/users/{person.sub}/lock", data={"csrf": _csrf(page), "confirmed": "yes",
                                                               "reason": "冒用举报"})
    assert done.status_code == 302 and idp.accounts.locked(person.sub)
    listing = web.get("/admin/users?q=lisi").get_data(as_text=True)
    assert "已锁定" in listing and f'action="/admin/users/{person.sub}/unlock"' in listing
    assert web.post(f"/admin/users/{person.sub}/unlock", data={"csrf": "forged", "confirmed": "yes",
                                                                 "reason": "x"}).status_code == 400
    done = web.post(f"/admin/users/{person.sub}/unlock", data={"csrf": _csrf(listing), "confirmed": "yes",
                                                                 "reason": "核实为本人"})
    assert done.status_code == 302 and not idp.accounts.locked(person.sub)
    # The audit administrator has no buttons, and the server refuses a forged form.
    auditor = idp.app.test_client()
    assert sign_in(idp, auditor, "shenji", audit_totp).status_code == 200
    audit_page = auditor.get("/admin/audit").get_data(as_text=True)
    assert "user.locked" in audit_page and "冒用举报" in audit_page and "user.unlocked" in audit_page
    users_page = auditor.get("/admin/users").get_data(as_text=True)
    assert "/lock" not in users_page
    refused = auditor.post(f"/admin/users/{person.sub}/lock", data={"csrf": _csrf(audit_page), "confirmed": "yes",
                                                                      "reason": "x"})
    assert "managed by the security administrator" in refused.get_data(as_text=True)
    assert not idp.accounts.locked(person.sub)


def _reauthenticate(web, authorize: str, username: str, code: str):
    """The IdP's answer to prompt=login&max_age=0: password and TOTP again, then back to the console."""
    query = urlsplit(authorize).query
    assert "prompt=login" in query and "max_age=0" in query
    answer = web.get("/authorize?" + query)
    assert answer.status_code in (302, 303) and "/login" in answer.headers["Location"]
    done = login(web, username, return_to="/authorize?" + query)
    assert done.headers["Location"] == "/login/mfa", done.headers
    page = web.get("/login/mfa").get_data(as_text=True)
    return _follow(web, web.post("/login/mfa", data={"csrf": _csrf(page), "code": code}))


def test_the_security_administrator_revokes_an_agents_mandate_after_signing_in_again(storage, tmp_path):
    """Organisations and agents in the console; the revocation asks for a recent sign-in (step-up):
    with tokens from a sign-in ten minutes old the operator signs in again and confirms once more."""
    idp = make_idp(storage, tmp_path)
    services = idp.app.extensions["yitong.idp"]
    Operators(idp.home.engine).grant("root", "system", by=None)
    operator, totp = _operator(idp, "anquan", "security", "root")
    representative = idp.accounts.create(username="faren", password=PASSWORD)
    agent = idp.accounts.create(username="jingban", password=PASSWORD)
    services.identities.bind(agent.sub, id_type="resident", name=ZHAO[0], id_number=ZHAO[1],
                             trust_framework="cn_population_library", evidence={})
    idp.accounts.set_level(agent.sub, "urn:yitong:loa:2")
    services.organisations.register(uscc=COMPANY[1], name=COMPANY[0], legal_representative_sub=representative.sub,
                                    acr="urn:yitong:loa:2", uscc_warnings=[], trust_framework="cn_legal_person_library",
                                    evidence={})
    mandate = services.agents.grant(actor=representative.sub, uscc=COMPANY[1], login="jingban", roles=["*"],
                                    expires_at=utcnow() + timedelta(days=30))
    web = idp.app.test_client()
    assert sign_in(idp, web, "anquan", totp).status_code == 200
    listing = web.get("/admin/organisations?q=北京").get_data(as_text=True)
    assert f'href="/admin/organisations/{COMPANY[1]}"' in listing and COMPANY[0] in listing
    assert "No organisation matches." in web.get("/admin/organisations?q=ZZZ&lang=en").get_data(as_text=True)
    detail = web.get(f"/admin/organisations/{COMPANY[1]}?lang=zh").get_data(as_text=True)
    assert mandate.agent_id in detail and "pending" in detail
    assert "faren" in detail and "jingban" in detail  # people by username, their sub beneath
    revoke_url = f"/admin/agents/{mandate.agent_id}/revoke?uscc={COMPANY[1]}"
    assert f'action="{revoke_url}"' in detail
    ask = web.post(revoke_url, data={"csrf": _csrf(detail)})
    assert ask.status_code == 200 and "确定要撤销经办人授权" in ask.get_data(as_text=True)
    # The operator signed in ten minutes ago: the API answers RFC 9470's challenge, the console
    # keeps the confirmation and sends them through the IdP with max_age=0.
    stale = int(time.time()) - 600
    with web.session_transaction() as state:
        state["console_tokens"] = {
            audience: services.tokens.access_token(None, client_id="yitong-console", scope="openid yitong:admin",
                                                   resource=resource, acr="urn:yitong:loa:3", auth_time=stale,
                                                   sub=operator.sub)
            for audience, resource in (("seal", f"{idp.home.settings.issuer}/seal"), ("idp", None),
                                       ("licences", f"{idp.home.settings.issuer}/licences"))}
    answer = web.post(revoke_url, data={"csrf": _csrf(detail), "confirmed": "yes", "reason": "单位来函"})
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/authorize?")
    assert services.agents.get(mandate.agent_id).state == "pending"  # nothing happened yet
    again = _reauthenticate(web, answer.headers["Location"], "anquan", totp.at(time.time() + 30))
    page = again.get_data(as_text=True)
    assert again.request.path == "/admin/again" and "您已重新验证身份" in page and 'value="单位来函"' in page
    done = web.post(revoke_url, data={"csrf": _csrf(page), "confirmed": "yes", "reason": "单位来函"})
    assert done.status_code == 302 and services.agents.get(mandate.agent_id).state == "revoked"
    detail = web.get(f"/admin/organisations/{COMPANY[1]}?state=revoked").get_data(as_text=True)
    assert "revoked" in detail and operator.sub in detail and 'action="' + revoke_url not in detail
    events = Audit(idp.home.engine).tail(10, event="agent.revoked")
    assert events[0].sub == operator.sub and events[0].detail["reason"] == "单位来函"


def test_the_security_administrator_finds_a_licence_by_its_type_and_revokes_it(storage, tmp_path):
    idp = make_idp(storage, tmp_path, with_pki=True)
    Operators(idp.home.engine).grant("root", "system", by=None)
    operator, totp = _operator(idp, "anquan", "security", "root")
    library = idp.app.extensions["yitong.licence"]["library"]()
    issued = library.issue(food(), actor="test:issuer")
    web = idp.app.test_client()
    assert sign_in(idp, web, "anquan", totp).status_code == 200
    types = web.get("/admin/licences?lang=en").get_data(as_text=True)
    assert f'href="/admin/licences/types/{FOOD}"' in types and "Licence types" in types
    kind = web.get(f"/admin/licences/types/{FOOD}?status=valid&lang=zh").get_data(as_text=True)
    assert f'href="/admin/licences/{issued.licence_id}"' in kind and SHOP_USCC not in kind  # masked
    page = web.get(f"/admin/licences/{issued.licence_id}").get_data(as_text=True)
    assert "issued" in page and f'action="/admin/licences/{issued.licence_id}/revoke"' in page
    ask = web.post(f"/admin/licences/{issued.licence_id}/revoke", data={"csrf": _csrf(page), "reason": "吊销"})
    assert ask.status_code == 200 and 'name="confirmed"' in ask.get_data(as_text=True)
    assert library.get(issued.licence_id).status == "valid"
    done = web.post(f"/admin/licences/{issued.licence_id}/revoke", data={"csrf": _csrf(page), "reason": "吊销",
                                                                          "confirmed": "yes"})
    assert done.status_code == 302 and library.get(issued.licence_id).status == "revoked"
    page = web.get(f"/admin/licences/{issued.licence_id}").get_data(as_text=True)
    assert f"operator:{operator.sub}" in page and "吊销" in page and "/revoke" not in page


class _Later:
    """A TOTP app read one step later (the code just used may not be used again)."""

    def __init__(self, totp) -> None:
        self.totp = totp

    def now(self) -> str:
        return self.totp.at(time.time() + 30)


def test_a_console_session_refreshes_while_active_and_ends_idle_too_old_or_signed_out(storage, tmp_path):
    idp = make_idp(storage, tmp_path)
    Operators(idp.home.engine).grant("root", "system", by=None)
    _, totp = _operator(idp, "anquan", "security", "root")
    web = idp.app.test_client()
    assert sign_in(idp, web, "anquan", totp).status_code == 200
    # The access tokens ran out (5 minutes) while the operator is active: the console refreshes them.
    with web.session_transaction() as state:
        before = dict(state["console_tokens"])
        state["console_who"] = {**state["console_who"], "exp": int(time.time()) - 1}
    page = web.get("/admin/users?q=anquan")
    assert page.status_code == 200 and "anquan" in page.get_data(as_text=True)
    with web.session_transaction() as state:
        assert all(state["console_tokens"][name] != before[name] for name in before)
        assert state["console_who"]["exp"] > time.time() + 200
    # Three access tokens and three sealed refresh tokens still fit a browser's 4096-byte cookie.
    assert len(web.get_cookie("yitong_flow").value) < 3800
    # Signing out revokes the refresh token of each audience at the IdP.
    signed_out = web.post("/admin/logout", data={"csrf": _csrf(page.get_data(as_text=True))})
    assert signed_out.status_code == 200 and "您已退出管理控制台" in signed_out.get_data(as_text=True)
    revoked = Audit(idp.home.engine).tail(20, event="token.revoked")
    assert [e.client_id for e in revoked] == ["yitong-console"] * 3
    assert web.get("/admin/").headers["Location"].endswith("/admin/login")
    # Idle beyond YITONG_CONSOLE_IDLE_SECONDS (15 min), or older than YITONG_CONSOLE_MAX_SECONDS (8 h): a
    # clear message and a new sign-in.
    assert sign_in(idp, web, "anquan", _Later(totp)).status_code == 200
    with web.session_transaction() as state:
        kept = dict(state)
        state["console_who"] = {**state["console_who"], "active": int(time.time()) - 16 * 60}
    idle = web.get("/admin/users?lang=en")
    assert idle.status_code == 401 and "ended after a while without activity" in idle.get_data(as_text=True)
    assert 'href="/admin/login"' in idle.get_data(as_text=True)
    with web.session_transaction() as state:
        state.update(kept)
        state["console_who"] = {**kept["console_who"], "started": int(time.time()) - 8 * 3600 - 1}
    too_old = web.get("/admin/users?lang=zh")
    assert too_old.status_code == 401 and "会话已达到最长时限" in too_old.get_data(as_text=True)
    assert web.get("/admin/").headers["Location"].endswith("/admin/login")


def test_db_upgrade_gives_an_older_console_client_refresh_tokens(storage, tmp_path):
    from idp.oauth.clients import ClientRegistry
    from yitong.console import CONSOLE_CLIENT_ID, provision_console_client

    idp = make_idp(storage, tmp_path)
    clients = ClientRegistry(idp.home.engine, idp.home.keystore().secret("client-secret-pepper"))
    older = clients.get(CONSOLE_CLIENT_ID)
    assert "refresh_token" in older.metadata["grant_types"]  # a new install has them
    clients.update(CONSOLE_CLIENT_ID, None, {**older.metadata, "grant_types": ["authorization_code"]})
    assert provision_console_client(idp.home) == [f"client {CONSOLE_CLIENT_ID}: refresh tokens"]
    assert clients.get(CONSOLE_CLIENT_ID).metadata["grant_types"] == ["authorization_code", "refresh_token"]
    assert provision_console_client(idp.home) == []
