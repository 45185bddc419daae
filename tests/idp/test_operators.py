"""Operator roles (issue 17, 三员分立): grants need another system administrator, one role per
operator, and the admin API refuses every other role's actions with 403 and an audit event;
sensitive actions need a recent sign-in (RFC 9470 step-up)."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

from idp.audit import Audit
from idp.operators import OperatorError, Operators
from keys.storage import utcnow
from tests.baselib.server import COMPANY, ZHAO
from tests.helpers import check_openapi_covers, run_yitong
from tests.idp.support import PASSWORD, login, make_idp

pytestmark = pytest.mark.storage

# What each role may do, as (method, path, body); {sub} is a person's account, {uscc} an organisation,
# {agent_id} an agent's mandate of it.
ACTIONS = {
    "system": [("GET", "/admin/api/v1/clients", None), ("GET", "/admin/api/v1/operators", None),
               ("GET", "/admin/api/v1/keys?purpose=token", None)],
    "security": [("GET", "/admin/api/v1/users?q=zhang", None), ("GET", "/admin/api/v1/users/{sub}/sessions", None),
                 ("POST", "/admin/api/v1/users/{sub}/level", {"acr": "urn:yitong:loa:2", "reason": "window check"}),
                 ("GET", "/admin/api/v1/organisations?q=91", None),
                 ("GET", "/admin/api/v1/organisations/{uscc}", None),
                 ("GET", "/admin/api/v1/agents/{agent_id}", None),
                 ("POST", "/admin/api/v1/agents/{agent_id}/revoke", {"reason": "单位来函"})],
    "audit": [("GET", "/admin/api/v1/audit?limit=5", None), ("GET", "/admin/api/v1/audit/verify", None)],
}


@pytest.fixture
def idp(storage, tmp_path):
    return make_idp(storage, tmp_path)


def _token(web, client, secret) -> dict:
    answer = web.post("/token", data={"grant_type": "client_credentials", "client_id": client.client_id,
                                      "client_secret": secret, "scope": "yitong:admin"})
    assert answer.status_code == 200, answer.get_json()
    return {"Authorization": f"Bearer {answer.get_json()['access_token']}"}


def test_grants_follow_the_separation_of_duties(idp):
    operators = Operators(idp.home.engine)
    with pytest.raises(OperatorError, match="first operator is a system administrator"):
        operators.grant("alice", "security", by=None)
    operators.grant("root", "system", by=None)
    with pytest.raises(OperatorError, match="--by"):
        operators.grant("mallory", "system", by=None)
    with pytest.raises(OperatorError, match="another administrator"):
        operators.revoke("root", by="root")
    operators.grant("sam", "security", by="root")
    with pytest.raises(OperatorError, match="not a system administrator"):
        operators.grant("ann", "audit", by="sam")
    with pytest.raises(OperatorError, match="one role per operator"):
        operators.grant("sam", "audit", by="root")
    operators.grant("ann", "audit", by="root")
    assert {(o.sub, o.role, o.granted_by) for o in operators.list()} == {
        ("root", "system", None), ("sam", "security", "root"), ("ann", "audit", "root")}
    assert operators.revoke("ann", by="root").role == "audit" and operators.role_of("ann") is None


def test_each_role_is_refused_every_other_roles_actions(idp):
    web = idp.app.test_client()
    person = idp.accounts.create(username="zhangsan", password="Tianjin-2026-correct")
    uscc = _organisation(idp, person).uscc
    agent_id = _mandate(idp, person, uscc).agent_id
    operators, headers = Operators(idp.home.engine), {}
    for role in ("system", "security", "audit"):
        client, secret = idp.client(grants=("client_credentials",), scope="yitong:admin")
        operators.grant(client.client_id, role, by=None if role == "system" else headers["system"][0])
        headers[role] = (client.client_id, _token(web, client, secret))
    for role, (actor, auth) in headers.items():
        for owner, actions in ACTIONS.items():
            for method, path, body in actions:
                answer = web.open(path.format(sub=person.sub, uscc=uscc, agent_id=agent_id), method=method,
                                  headers=auth, json=body)
                if owner == role:
                    assert answer.status_code in (200, 201), (role, path, answer.get_json())
                    continue
                assert answer.status_code == 403, (role, path)
                assert answer.headers["Content-Type"] == "application/problem+json"
                assert f"managed by the {owner} administrator" in answer.get_json()["detail"]
        refused = [e for e in Audit(idp.home.engine).tail(500, event="admin.refused") if e.sub == actor]
        assert len(refused) == sum(len(a) for o, a in ACTIONS.items() if o != role)
        assert {e.detail["role"] for e in refused} == {role}
    # The audit administrator sees the security administrator's change, and the chain is whole.
    _, audit_auth = headers["audit"]
    events = web.get("/admin/api/v1/audit?event=user.level_set", headers=audit_auth).get_json()["items"]
    assert events and events[0]["sub"] == headers["security"][0] and events[0]["detail"]["target"] == person.sub
    report = web.get("/admin/api/v1/audit/verify", headers=audit_auth).get_json()
    assert report["ok"] is True and report["records"] >= 7


def test_a_token_without_a_role_or_below_loa3_is_refused(idp):
    web = idp.app.test_client()
    client, secret = idp.client(grants=("client_credentials",), scope="yitong:admin")
    auth = _token(web, client, secret)
    answer = web.get("/admin/api/v1/clients", headers=auth)
    assert answer.status_code == 403 and "role is none" in answer.get_json()["detail"]
    person = idp.accounts.create(username="lisi", password="Tianjin-2026-correct")
    Operators(idp.home.engine).grant(person.sub, "system", by=None)
    tokens = idp.app.extensions["yitong.idp"].tokens
    for acr, status in (("urn:yitong:loa:2", 403), ("urn:yitong:loa:3", 200)):
        token = tokens.access_token(None, client_id=client.client_id, scope="yitong:admin", resource=None,
                                    acr=acr, sub=person.sub)
        assert web.get("/admin/api/v1/operators", headers={"Authorization": f"Bearer {token}"}).status_code == status


def test_operator_cli_makes_the_first_administrator_and_refuses_self_grants(storage, upgraded_home):
    env = upgraded_home.env
    first = run_yitong(["operator", "grant", "root-sub", "--role", "system", "--json"], env)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["granted_by"] is None
    assert run_yitong(["operator", "grant", "eve", "--role", "audit"], env).returncode == 2
    itself = run_yitong(["operator", "grant", "root-sub", "--role", "audit", "--by", "root-sub"], env)
    assert itself.returncode == 2 and b"another administrator" in itself.stderr
    assert run_yitong(["operator", "grant", "sec-sub", "--role", "security", "--by", "root-sub"], env).returncode == 0
    listed = json.loads(run_yitong(["operator", "list", "--json"], env).stdout)
    assert [(o["sub"], o["role"]) for o in listed] == [("sec-sub", "security"), ("root-sub", "system")]
    verified = run_yitong(["audit", "verify", "--chain", "idp_audit", "--json"], env)
    assert verified.returncode == 0 and json.loads(verified.stdout)["chains"][0]["records"] == 2


def test_the_openapi_document_describes_every_admin_route(idp):
    document = idp.app.test_client().get("/admin/api/v1/openapi.json").get_json()
    check_openapi_covers(document, idp.app, "/admin/api/v1")
    operations = [op for item in document["paths"].values() for k, op in item.items() if k != "parameters"]
    assert {op["x-yitong-role"] for op in operations} == {"system", "security", "audit"}
    assert {op["summary"] for op in operations if op.get("x-yitong-step-up")} == {
        "Grant a role (never to oneself)", "Revoke a role (never one's own)",
        "Lock an account (sessions end, grants revoked), with a reason",
        "Revoke an agent's mandate at once, with a reason", "Rotate a client's secret"}


def test_a_locked_account_cannot_sign_in_and_its_sessions_end(idp):
    web, browser = idp.app.test_client(), idp.app.test_client()
    person = idp.accounts.create(username="sunqi", password=PASSWORD)
    assert login(browser, "sunqi").status_code in (302, 303)
    client, secret = idp.client(grants=("client_credentials",), scope="yitong:admin")
    Operators(idp.home.engine).grant("root", "system", by=None)
    Operators(idp.home.engine).grant(client.client_id, "security", by="root")
    auth = _token(web, client, secret)
    sessions = web.get(f"/admin/api/v1/users/{person.sub}/sessions", headers=auth).get_json()["items"]
    assert len(sessions) == 1
    assert web.post(f"/admin/api/v1/users/{person.sub}/lock", headers=auth, json={}).status_code == 400
    locked = web.post(f"/admin/api/v1/users/{person.sub}/lock", headers=auth, json={"reason": "stolen phone"})
    assert locked.get_json() == {"sub": person.sub, "locked": True, "sessions_ended": 1}
    assert browser.get("/account").status_code in (302, 303)  # the session is gone
    refused = login(browser, "sunqi")
    assert refused.status_code == 403 and "账户已被锁定" in refused.get_data(as_text=True)
    listed = web.get("/admin/api/v1/users?q=sunqi", headers=auth).get_json()["items"]
    assert listed[0]["locked"] is True and listed[0]["phone"] is None
    web.post(f"/admin/api/v1/users/{person.sub}/unlock", headers=auth, json={"reason": "phone found"})
    assert login(browser, "sunqi").status_code in (302, 303)
    events = [e.event for e in Audit(idp.home.engine).tail(50) if e.event.startswith("user.")]
    assert events == ["user.locked", "user.unlocked"]


def _organisation(idp, representative):
    services = idp.app.extensions["yitong.idp"]
    return services.organisations.register(uscc=COMPANY[1], name=COMPANY[0],
                                           legal_representative_sub=representative.sub, acr="urn:yitong:loa:2",
                                           uscc_warnings=[], trust_framework="cn_legal_person_library", evidence={})


def _mandate(idp, representative, uscc: str):
    """An agent's mandate for the organisation: a real-name person at loa:2, invited by its representative."""
    services = idp.app.extensions["yitong.idp"]
    agent_person = idp.accounts.create(username="jingban", password=PASSWORD)
    services.identities.bind(agent_person.sub, id_type="resident", name=ZHAO[0], id_number=ZHAO[1],
                             trust_framework="cn_population_library", evidence={})
    idp.accounts.set_level(agent_person.sub, "urn:yitong:loa:2")
    return services.agents.grant(actor=representative.sub, uscc=uscc, login="jingban", roles=["*"],
                                 expires_at=utcnow() + timedelta(days=30))


def test_the_security_administrator_finds_organisations_and_revokes_a_mandate_after_a_recent_sign_in(idp):
    """Organisations and agents: search, detail with mandates, revoke with a reason; a person's
    token from a sign-in older than 5 minutes gets RFC 9470's challenge, a fresh one acts."""
    web = idp.app.test_client()
    services = idp.app.extensions["yitong.idp"]
    representative = idp.accounts.create(username="faren", password=PASSWORD)
    organisation = _organisation(idp, representative)
    mandate = _mandate(idp, representative, organisation.uscc)
    operator = idp.accounts.create(username="anquan", password=PASSWORD)
    client, _ = idp.client(grants=("client_credentials",), scope="yitong:admin")
    Operators(idp.home.engine).grant("root", "system", by=None)
    Operators(idp.home.engine).grant(operator.sub, "security", by="root")

    def auth(signed_in_ago: int) -> dict:
        token = services.tokens.access_token(None, client_id=client.client_id, scope="yitong:admin", resource=None,
                                             acr="urn:yitong:loa:3", sub=operator.sub,
                                             auth_time=int(time.time()) - signed_in_ago)
        return {"Authorization": f"Bearer {token}"}

    found = web.get("/admin/api/v1/organisations?q=" + COMPANY[0][:2], headers=auth(600)).get_json()
    assert [o["uscc"] for o in found["items"]] == [organisation.uscc] and found["next"] is None
    assert web.get("/admin/api/v1/organisations?q=ZZZ", headers=auth(600)).get_json()["items"] == []
    shown = web.get(f"/admin/api/v1/organisations/{organisation.uscc}", headers=auth(600)).get_json()
    assert shown["name"] == COMPANY[0] and [(a["agent_id"], a["state"]) for a in shown["agents"]] == [
        (mandate.agent_id, "pending")]
    assert shown["legal_representative_username"] == "faren" and shown["agents"][0]["agent_username"] == "jingban"
    assert web.get("/admin/api/v1/organisations/91000000000000000X", headers=auth(600)).status_code == 404
    path = f"/admin/api/v1/agents/{mandate.agent_id}/revoke"
    assert web.post(path, headers=auth(60), json={}).status_code == 400  # no reason
    stale = web.post(path, headers=auth(600), json={"reason": "单位来函"})
    assert stale.status_code == 401 and stale.headers["Content-Type"] == "application/problem+json"
    challenge = stale.headers["WWW-Authenticate"]
    assert 'error="insufficient_user_authentication"' in challenge and "max_age=300" in challenge
    assert services.agents.get(mandate.agent_id).state == "pending"  # nothing happened
    done = web.post(path, headers=auth(60), json={"reason": "单位来函"})
    assert done.status_code == 200 and done.get_json()["state"] == "revoked"
    assert done.get_json()["revoked_by"] == operator.sub
    again = web.post(path, headers=auth(60), json={"reason": "单位来函"})
    assert again.status_code == 409 and again.headers["Content-Type"] == "application/problem+json"
    revoked = Audit(idp.home.engine).tail(5, event="agent.revoked")
    assert revoked[0].sub == operator.sub and revoked[0].detail["reason"] == "单位来函"
    # Role grants and account locks ask for the same recent sign-in; the role check comes first.
    Operators(idp.home.engine).revoke(operator.sub, by="root")
    Operators(idp.home.engine).grant(operator.sub, "system", by="root")
    stale = web.post("/admin/api/v1/operators", headers=auth(600), json={"sub": "someone", "role": "audit"})
    assert stale.status_code == 401 and "insufficient_user_authentication" in stale.headers["WWW-Authenticate"]
    assert web.delete("/admin/api/v1/operators/root", headers=auth(600)).status_code == 401
    nobody = web.post("/admin/api/v1/operators", headers=auth(10), json={"sub": "someone", "role": "audit"})
    assert nobody.status_code == 404 and nobody.get_json()["detail"] == "no account or client 'someone'"
    granted = web.post("/admin/api/v1/operators", headers=auth(10),
                       json={"username": "faren", "role": "audit", "reason": "审计岗位"})
    assert granted.status_code == 201 and granted.get_json()["sub"] == representative.sub
    assert Audit(idp.home.engine).tail(1, event="operator.granted")[0].detail["reason"] == "审计岗位"
    listed = web.get("/admin/api/v1/operators", headers=auth(10)).get_json()["items"]
    assert {"sub": representative.sub, "username": "faren", "role": "audit"}.items() <= next(
        o for o in listed if o["sub"] == representative.sub).items()
    assert web.post("/admin/api/v1/operators", headers=auth(10), json={"sub": client.client_id, "role": "security"}
                    ).status_code == 201  # an automation client, by its id
    rotate = f"/admin/api/v1/clients/{client.client_id}/secret"
    assert web.post(rotate, headers=auth(600)).status_code == 401
    assert web.post(rotate, headers=auth(10)).get_json()["client_secret"]
    assert web.post(f"/admin/api/v1/users/{mandate.agent_sub}/lock", headers=auth(600),
                    json={"reason": "x"}).status_code == 403  # not the security administrator's token now
