"""Agents (经办人) and acting for an organisation (scope ``org``), through the real Flask app on both
storage backends: grant → accept → sign in as the agent → choose the organisation → tokens carry
DESIGN.md's ``org`` claim; revocation and expiry stop introspection and refresh at once.

Setup binds verified identities and registers organisations through the IdP's own services (the
pages that do this against the base library are tested in test_realname*.py); everything about
agents and acting goes through the pages and endpoints."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from sqlalchemy import update

from idp.audit import Audit
from idp.models import agents_table
from keys.storage import utcnow
from tests.baselib.server import COMPANY, LI, PILOT, ZHANG, ZHAO
from tests.idp.support import PASSWORD, REDIRECT, authorize_url, code_from, login, make_idp, pkce_pair, through_consent

LOA_1, LOA_2 = "urn:yitong:loa:1", "urn:yitong:loa:2"
SCOPE = "openid profile org offline_access"


@pytest.fixture
def idp(storage, tmp_path):
    return make_idp(storage, tmp_path)


def svc(idp, name):
    return getattr(idp.app.extensions["yitong.idp"], name)


def person(idp, username, who, *, phone=None, level=LOA_2):
    """An account whose real name is verified (identity bound, level set), or a loa:1 one (who None)."""
    user = idp.accounts.create(username=username, password=PASSWORD, phone=phone)
    if who is not None:
        svc(idp, "identities").bind(user.sub, id_type="resident", name=who[0], id_number=who[1],
                                    trust_framework="cn_population_library", evidence={})
    idp.accounts.set_level(user.sub, level)
    return user


def organisation(idp, representative, company):
    return svc(idp, "organisations").register(uscc=company[1], name=company[0],
                                              legal_representative_sub=representative.sub, acr=LOA_2,
                                              uscc_warnings=[], trust_framework="cn_legal_person_library",
                                              evidence={})


def browser(idp, username):
    web = idp.app.test_client()
    assert login(web, username).status_code == 302
    return web


def csrf_of(web, path="/account/agents"):
    page = web.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    with web.session_transaction() as flask_session:  # the page may show no form at all
        return flask_session["csrf"]


def act(web, **form):
    return web.post("/account/agents", data={"csrf": csrf_of(web), **form}, headers={"Accept-Language": "en"})


def grant(web, uscc, login_name, roles=("seal_keeper",), expires=None, other=""):
    expires = expires or (utcnow() + timedelta(days=30)).date().isoformat()
    return web.post("/account/agents", data={"csrf": csrf_of(web), "action": "grant", "uscc": uscc,
                                             "login": login_name, "role": list(roles), "other_roles": other,
                                             "expires": expires}, headers={"Accept-Language": "en"})


def agent_ids(idp, uscc):
    return [(a.agent_id, a.agent_sub, a.state) for a in svc(idp, "agents").of_organisation(uscc)]


def events(idp, name):
    return [e for e in Audit(idp.home.engine).tail(500) if e.event == name]


def payload(jwt):
    part = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def authorize(web, client_id, choose=None, **params):
    """Run /authorize with scope org; on the chooser page pick ``choose`` (USCC or 'self').
    Returns (chooser page text or None, callback params)."""
    verifier, challenge = pkce_pair()
    url = authorize_url(client_id, challenge, scope=params.pop("scope", SCOPE), **params)
    response = through_consent(web, web.get(url))
    chooser = None
    if response.status_code == 200 and 'id="org-choose"' in response.get_data(as_text=True):
        chooser = response.get_data(as_text=True)
        assert choose is not None, "the organisation chooser was shown"
        csrf = chooser.split('name="csrf" value="')[1].split('"')[0]
        return_to = chooser.split('name="return_to" value="')[1].split('"')[0].replace("&amp;", "&")
        chosen = web.post("/authorize/organisation", data={"csrf": csrf, "return_to": return_to, "org": choose})
        assert chosen.status_code == 302, chosen.get_data(as_text=True)
        response = web.get(chosen.headers["Location"])
    return chooser, code_from(response), verifier


def tokens_for(web, client, code, verifier):
    client_id, secret = client
    return web.post("/token", data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                    "code_verifier": verifier, "client_id": client_id, "client_secret": secret})


def refresh(web, client, refresh_token):
    client_id, secret = client
    return web.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token,
                                    "client_id": client_id, "client_secret": secret})


def introspect(web, client, token, hint=None):
    client_id, secret = client
    form = {"token": token, "client_id": client_id, "client_secret": secret}
    if hint:
        form["token_type_hint"] = hint
    return web.post("/introspect", data=form).get_json()


@pytest.fixture
def portal(idp):
    client, secret = idp.client(scope=SCOPE)
    return client.client_id, secret


@pytest.fixture
def company(idp):
    """张三 represents COMPANY and has granted 李四 (by phone) seal_keeper + finance; 李四 accepted."""
    zhang = person(idp, "zhangsan", ZHANG)
    li = person(idp, "lisi", LI, phone="13900139000")
    organisation(idp, zhang, COMPANY)
    rep = browser(idp, "zhangsan")
    granted = grant(rep, COMPANY[1], "13900139000", roles=["seal_keeper"], other="finance")
    assert granted.status_code == 200 and 'id="agents-message"' in granted.get_data(as_text=True)
    agent = browser(idp, "lisi")
    page = agent.get("/account/agents").get_data(as_text=True)
    assert 'id="invitations"' in page and COMPANY[0] in page
    [(agent_id, sub, state)] = agent_ids(idp, COMPANY[1])
    assert (sub, state) == (li.sub, "pending")
    accepted = act(agent, action="accept", agent_id=agent_id)
    assert accepted.status_code == 200 and agent_ids(idp, COMPANY[1])[0][2] == "active"
    return {"zhang": zhang, "li": li, "rep": rep, "agent": agent, "agent_id": agent_id}


def test_grant_accept_choose_and_the_tokens_carry_the_org_claim(idp, portal, company):
    web = company["agent"]
    chooser, callback, verifier = authorize(web, portal[0], choose=COMPANY[1])
    assert COMPANY[0] in chooser and COMPANY[1] in chooser and 'value="self"' in chooser
    answer = tokens_for(web, portal, callback["code"], verifier)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    expected = {"uscc": COMPANY[1], "name": COMPANY[0], "roles": ["finance", "seal_keeper"], "acting_as": True,
                "acr": LOA_2}  # the organisation's registered level: no certificate presented
    access, id_token = payload(body["access_token"]), payload(body["id_token"])
    assert access["org"] == expected and access["sub"] == company["li"].sub
    assert id_token["org"] == expected
    info = web.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200 and info.get_json()["org"] == expected
    seen = introspect(web, portal, body["access_token"])
    assert seen["active"] is True and seen["org"] == expected
    again = refresh(web, portal, body["refresh_token"])
    assert again.status_code == 200 and payload(again.get_json()["access_token"])["org"] == expected
    # audit: who granted, accepted and acted, for which organisation, agent, roles and expiry
    [granted] = events(idp, "agent.granted")
    assert granted.sub == company["zhang"].sub
    assert {k: granted.detail[k] for k in ("uscc", "agent_sub", "roles")} == {
        "uscc": COMPANY[1], "agent_sub": company["li"].sub, "roles": ["finance", "seal_keeper"]}
    assert granted.detail["expires_at"]
    assert events(idp, "agent.accepted")[0].sub == company["li"].sub
    assert events(idp, "acting.chosen")[0].detail["uscc"] == COMPANY[1]
    text = json.dumps([e.as_dict() for e in Audit(idp.home.engine).tail(500)], ensure_ascii=False, default=str)
    assert ZHANG[1] not in text and LI[1] not in text


def test_the_legal_representative_acts_with_the_legal_representative_role(idp, portal, company):
    chooser, callback, verifier = authorize(company["rep"], portal[0], choose=COMPANY[1])
    assert "legal representative" in chooser or "法定代表人" in chooser
    body = tokens_for(company["rep"], portal, callback["code"], verifier).get_json()
    assert payload(body["access_token"])["org"]["roles"] == ["legal_representative"]


def test_a_person_with_two_organisations_sees_both_and_may_act_as_themselves(idp, portal, company):
    organisation(idp, company["li"], PILOT)  # 李四 represents PILOT and is an agent of COMPANY
    web = company["agent"]
    chooser, callback, verifier = authorize(web, portal[0], choose="self")
    assert COMPANY[1] in chooser and PILOT[1] in chooser and 'value="self"' in chooser
    body = tokens_for(web, portal, callback["code"], verifier).get_json()
    assert "org" not in payload(body["access_token"]) and "org" not in payload(body["id_token"])
    assert "org" not in web.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}).get_json()
    _, callback, verifier = authorize(web, portal[0], choose=PILOT[1])
    body = tokens_for(web, portal, callback["code"], verifier).get_json()
    assert payload(body["access_token"])["org"]["uscc"] == PILOT[1]


def test_without_the_org_scope_nothing_changes(idp, portal, company):
    chooser, callback, verifier = authorize(company["agent"], portal[0], scope="openid profile offline_access")
    assert chooser is None
    body = tokens_for(company["agent"], portal, callback["code"], verifier).get_json()
    assert "org" not in payload(body["access_token"]) and "org" not in payload(body["id_token"])
    assert "org" not in body["scope"].split()


def test_prompt_none_cannot_choose_an_organisation(idp, portal, company):
    web = company["agent"]
    authorize(web, portal[0], choose=COMPANY[1])  # consent on record
    _verifier, challenge = pkce_pair()
    silent = web.get(authorize_url(portal[0], challenge, scope=SCOPE, prompt="none"))
    assert code_from(silent)["error"] == "interaction_required"


def test_a_pending_declined_expired_or_revoked_agent_cannot_act(idp, portal):
    zhang, _li = person(idp, "zhangsan", ZHANG), person(idp, "lisi", LI)
    organisation(idp, zhang, COMPANY)
    rep, agent = browser(idp, "zhangsan"), browser(idp, "lisi")

    def cannot_act():
        chooser, callback, verifier = authorize(agent, portal[0])
        assert chooser is None  # nothing to choose from: the person acts as themselves
        body = tokens_for(agent, portal, callback["code"], verifier).get_json()
        assert "org" not in payload(body["access_token"])
        forced = agent.post("/authorize/organisation", data={
            "csrf": csrf_of(agent), "org": COMPANY[1],
            "return_to": authorize_url(portal[0], pkce_pair()[1], scope=SCOPE)})
        assert forced.status_code == 400

    assert grant(rep, COMPANY[1], "lisi").status_code == 200  # pending
    cannot_act()
    [(agent_id, _, _)] = agent_ids(idp, COMPANY[1])
    assert act(agent, action="decline", agent_id=agent_id).status_code == 200
    assert agent_ids(idp, COMPANY[1])[0][2] == "declined"
    cannot_act()
    assert grant(rep, COMPANY[1], "lisi").status_code == 200
    pending = next(a for a, _, s in agent_ids(idp, COMPANY[1]) if s == "pending")
    assert act(agent, action="accept", agent_id=pending).status_code == 200
    with idp.home.engine.begin() as conn:  # time passes: the authorisation's last day is over
        conn.execute(update(agents_table).where(agents_table.c.agent_id == pending)
                     .values(expires_at=utcnow() - timedelta(seconds=1)))
    assert [s for a, _, s in agent_ids(idp, COMPANY[1]) if a == pending] == ["expired"]
    cannot_act()
    assert act(agent, action="accept", agent_id=pending).status_code == 409  # too late to accept, too
    assert grant(rep, COMPANY[1], "lisi").status_code == 200  # an expired one can be granted anew
    fresh = next(a for a, _, s in agent_ids(idp, COMPANY[1]) if s == "pending")
    assert act(agent, action="accept", agent_id=fresh).status_code == 200
    assert act(rep, action="revoke", agent_id=fresh).status_code == 200
    cannot_act()
    page = rep.get("/account/agents").get_data(as_text=True)
    for state in ("agent-declined", "agent-expired", "agent-revoked"):
        assert state in page


def test_revocation_ends_introspection_and_refresh_at_once(idp, portal, company):
    web = company["agent"]
    _, callback, verifier = authorize(web, portal[0], choose=COMPANY[1])
    body = tokens_for(web, portal, callback["code"], verifier).get_json()
    _, callback2, verifier2 = authorize(web, portal[0], choose=COMPANY[1])  # a code not yet redeemed
    own = authorize(web, portal[0], choose="self")  # acting as oneself is not affected
    own_body = tokens_for(web, portal, own[1]["code"], own[2]).get_json()
    revoked = act(company["rep"], action="revoke", agent_id=company["agent_id"])
    assert revoked.status_code == 200
    assert introspect(web, portal, body["access_token"]) == {"active": False}
    assert introspect(web, portal, body["refresh_token"], "refresh_token") == {"active": False}
    refused = refresh(web, portal, body["refresh_token"])
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"
    assert web.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}).status_code == 401
    late = tokens_for(web, portal, callback2["code"], verifier2)
    assert late.status_code == 400 and late.get_json()["error"] == "invalid_grant"
    assert introspect(web, portal, own_body["access_token"])["active"] is True
    assert refresh(web, portal, own_body["refresh_token"]).status_code == 200
    [event] = events(idp, "agent.revoked")
    assert (event.sub, event.detail["uscc"], event.detail["agent_sub"]) == (
        company["zhang"].sub, COMPANY[1], company["li"].sub)


def test_expiry_ends_introspection_and_refresh_without_any_event(idp, portal, company):
    web = company["agent"]
    _, callback, verifier = authorize(web, portal[0], choose=COMPANY[1])
    body = tokens_for(web, portal, callback["code"], verifier).get_json()
    assert introspect(web, portal, body["refresh_token"], "refresh_token")["active"] is True
    with idp.home.engine.begin() as conn:
        conn.execute(update(agents_table).where(agents_table.c.agent_id == company["agent_id"])
                     .values(expires_at=utcnow() - timedelta(seconds=1)))
    assert introspect(web, portal, body["access_token"]) == {"active": False}
    assert introspect(web, portal, body["refresh_token"], "refresh_token") == {"active": False}
    refused = refresh(web, portal, body["refresh_token"])
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"


def test_only_the_representative_or_an_admin_agent_may_grant(idp, company):
    zhao = person(idp, "zhaoliu", ZHAO)
    outsider = browser(idp, "zhaoliu")
    refused = grant(outsider, COMPANY[1], "zhaoliu")
    assert refused.status_code == 403 and "legal representative" in refused.get_data(as_text=True)
    refused = grant(company["agent"], COMPANY[1], "zhaoliu")  # an agent without the admin role
    assert refused.status_code == 403
    assert act(outsider, action="revoke", agent_id=company["agent_id"]).status_code == 403
    assert [sub for _, sub, _ in agent_ids(idp, COMPANY[1])] == [company["li"].sub]
    assert [e.detail["reason"] for e in events(idp, "agent.refused")] == ["not_authorised"] * 3
    # the representative makes 赵六 an admin agent; once accepted, 赵六 may grant
    assert grant(company["rep"], COMPANY[1], "zhaoliu", roles=["admin"]).status_code == 200
    admin_id = next(a for a, sub, _ in agent_ids(idp, COMPANY[1]) if sub == zhao.sub)
    assert act(outsider, action="accept", agent_id=admin_id).status_code == 200
    page = outsider.get("/account/agents").get_data(as_text=True)
    assert f'id="org-{COMPANY[1]}"' in page
    assert act(outsider, action="revoke", agent_id=company["agent_id"]).status_code == 200
    assert events(idp, "agent.revoked")[-1].sub == zhao.sub
    beyond = (utcnow() + timedelta(days=400)).date().isoformat()
    assert grant(outsider, COMPANY[1], "lisi", expires=beyond).status_code == 400  # beyond the admin's own expiry
    assert grant(outsider, COMPANY[1], "lisi").status_code == 200


def test_only_real_name_persons_can_be_granted_and_roles_are_checked(idp, company):
    person(idp, "nobody", None, level=LOA_1)
    person(idp, "loa1named", ZHAO, level=LOA_1)  # identity bound, level not raised
    rep = company["rep"]
    for login_name in ("nobody", "loa1named", "no-such-user"):
        refused = grant(rep, COMPANY[1], login_name)
        assert refused.status_code == 422 and "loa:2" in refused.get_data(as_text=True), login_name
    assert grant(rep, COMPANY[1], "zhangsan").status_code == 409  # the representative themselves
    assert grant(rep, COMPANY[1], "lisi").status_code == 409  # already an active agent
    person(idp, "wangwu", ("王五", "110101199003070011"))
    assert grant(rep, COMPANY[1], "wangwu", roles=["legal_representative"]).status_code == 400
    assert grant(rep, COMPANY[1], "wangwu", roles=[]).status_code == 400
    assert grant(rep, COMPANY[1], "wangwu", other="Bad<Role>").status_code == 400
    assert grant(rep, COMPANY[1], "wangwu", expires="2001-01-01").status_code == 400
    assert grant(rep, COMPANY[1], "wangwu", expires="not-a-date").status_code == 400
    assert len(agent_ids(idp, COMPANY[1])) == 1
    bad_csrf = rep.post("/account/agents", data={"csrf": "x", "action": "grant", "uscc": COMPANY[1]})
    assert bad_csrf.status_code == 400 and len(agent_ids(idp, COMPANY[1])) == 1
    assert act(rep, action="nonsense").status_code == 400
    assert act(rep, action="revoke", agent_id="unknown").status_code == 404


def test_pages_speak_both_languages_and_need_a_sign_in(idp, company):
    anonymous = idp.app.test_client()
    assert anonymous.get("/account/agents").headers["Location"].startswith("/login?")
    en = company["rep"].get("/account/agents?lang=en").get_data(as_text=True)
    zh = company["rep"].get("/account/agents?lang=zh-CN").get_data(as_text=True)
    assert "Agents of organisations" in en and "单位经办人" in zh and 'name="viewport"' in zh
    assert company["rep"].get("/account/agents").headers["Cache-Control"] == "no-store"
    document = anonymous.get("/.well-known/openid-configuration").get_json()
    assert "org" in document["scopes_supported"] and "org" in document["claims_supported"]


def test_a_client_not_registered_for_org_gets_no_chooser_and_no_claim(idp, company):
    client, secret = idp.client(scope="openid profile offline_access")
    chooser, callback, verifier = authorize(company["agent"], client.client_id)
    assert chooser is None
    body = tokens_for(company["agent"], (client.client_id, secret), callback["code"], verifier).get_json()
    assert "org" not in payload(body["access_token"]) and "org" not in payload(body["id_token"])
    assert body["scope"].split() == ["openid", "profile", "offline_access"]  # what the client may have


def test_a_choice_that_no_longer_holds_is_asked_again_never_dropped_silently(idp, portal, company):
    web = company["agent"]
    verifier, challenge = pkce_pair()
    url = authorize_url(portal[0], challenge, scope=SCOPE)
    page = through_consent(web, web.get(url)).get_data(as_text=True)
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    return_to = page.split('name="return_to" value="')[1].split('"')[0].replace("&amp;", "&")
    chosen = web.post("/authorize/organisation", data={"csrf": csrf, "return_to": return_to, "org": COMPANY[1]})
    assert chosen.status_code == 302
    assert act(company["rep"], action="revoke", agent_id=company["agent_id"]).status_code == 200
    again = web.get(chosen.headers["Location"], headers={"Accept-Language": "en"})
    text = again.get_data(as_text=True)
    assert again.status_code == 409 and 'id="org-choose-error"' in text and COMPANY[1] not in text
    assert 'value="self" required checked' in text
    chosen = web.post("/authorize/organisation", data={"csrf": csrf, "return_to": return_to, "org": "self"})
    callback = code_from(web.get(chosen.headers["Location"]))
    body = tokens_for(web, portal, callback["code"], verifier).get_json()
    assert "org" not in payload(body["access_token"])


def test_deleting_an_agents_account_ends_their_authorisations(idp, portal, company):
    """A person who deletes their account stops acting for the organisation at once (idp/accounts/lifecycle.py)."""
    agent = company["li"]
    assert [state for _, sub, state in agent_ids(idp, COMPANY[1]) if sub == agent.sub] == ["active"]
    web = company["agent"]  # 李四 deletes the account through the page, as a person would
    form = {"csrf": csrf_of(web, "/account/data"), "current_password": PASSWORD, "confirm": "delete"}
    assert web.post("/account/delete", data=form).status_code in (200, 302, 303)
    assert [state for _, sub, state in agent_ids(idp, COMPANY[1]) if sub == agent.sub] == ["revoked"]
    assert svc(idp, "agents").acting_for(agent.sub, COMPANY[1]) is None


def test_the_invited_person_is_told_by_sms_without_names_or_numbers(idp, company):
    from tests.idp.accounts_support import outbox

    [message] = [m for m in outbox(idp) if m["purpose"] == "agent-invited"]
    assert message["to"] == "13900139000" and "code" not in message
    assert "经办人" in message["text"] and COMPANY[0] not in message["text"]  # a fixed template: no data in it
    assert [e.detail["purpose"] for e in events(idp, "sms.sent")] == ["agent-invited"]
