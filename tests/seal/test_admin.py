"""/seal/admin/: the security administrator approves, makes and suspends seals with a token of
Yitong's own IdP carrying the operator role; other roles and the applicant are refused."""

from __future__ import annotations

import time

import pytest

from idp.operators import Operators
from tests.helpers import check_openapi_covers
from tests.idp.support import ISSUER, make_idp
from tests.seal.support import ORG_NAME, ORG_USCC

pytestmark = pytest.mark.storage
SEAL_AUDIENCE = f"{ISSUER}/seal"


@pytest.fixture
def site(storage, tmp_path):
    idp = make_idp(storage, tmp_path, with_pki=True)
    web = idp.app.test_client()
    operators = Operators(idp.home.engine)
    auth = {}
    for role in ("system", "security", "audit"):
        client, secret = idp.client(grants=("client_credentials",), scope="yitong:admin")
        operators.grant(client.client_id, role, by=None if role == "system" else auth["system"][0])
        answer = web.post("/token", data={"grant_type": "client_credentials", "client_id": client.client_id,
                                          "client_secret": secret, "scope": "yitong:admin",
                                          "resource": SEAL_AUDIENCE})
        assert answer.status_code == 200, answer.get_json()
        auth[role] = (client.client_id, {"Authorization": f"Bearer {answer.get_json()['access_token']}"})
    return idp, web, auth


def _apply(idp, applicant_sub: str) -> str:
    registry = idp.app.extensions["yitong.seal"]["registry"]()
    return registry.apply(holder_kind="org", holder_id=ORG_USCC, holder_name=ORG_NAME, seal_type=6,
                          algorithm="sm2", actor=f"idp:{applicant_sub}", reason="新设").esid


def test_the_security_administrator_approves_makes_and_suspends_a_seal(site):
    idp, web, auth = site
    applicant = idp.accounts.create(username="wangwu", password="Tianjin-2026-correct")
    esid = _apply(idp, applicant.sub)
    security, headers = auth["security"]
    for action, status in (("approve", "approved"), ("make", "active"), ("suspend", "suspended")):
        answer = web.post(f"/seal/admin/seals/{esid}/{action}", headers=headers, json={"reason": "窗口审核"})
        assert answer.status_code == 200, answer.get_json()
        assert answer.get_json()["status"] == status
    shown = web.get(f"/seal/admin/seals/{esid}", headers=headers).get_json()
    assert [(e["event"], e["actor"]) for e in shown["history"]] == [
        ("applied", f"idp:{applicant.sub}"), ("approved", f"operator:{security}"), ("made", f"operator:{security}"),
        ("suspended", f"operator:{security}")]
    image = web.get(shown["image"], headers=headers)
    assert image.status_code == 200 and image.data.startswith(b"\x89PNG")
    listed = web.get("/seal/admin/seals?status=suspended&q=" + ORG_USCC[:8], headers=headers).get_json()
    assert [s["esid"] for s in listed["items"]] == [esid]


def test_other_roles_and_the_applicant_are_refused(site):
    idp, web, auth = site
    applicant = idp.accounts.create(username="zhaoliu", password="Tianjin-2026-correct")
    esid = _apply(idp, applicant.sub)
    for role in ("system", "audit"):
        answer = web.post(f"/seal/admin/seals/{esid}/approve", headers=auth[role][1], json={"reason": "x"})
        assert answer.status_code == 403 and answer.headers["Content-Type"] == "application/problem+json"
        assert answer.get_json()["type"].endswith("wrong-role")
        # The audit administrator reads seals and their history (part of the audit trail); nobody else.
        assert web.get("/seal/admin/seals", headers=auth[role][1]).status_code == (
            200 if role == "audit" else 403)
    # The applicant, even as a security administrator signed in at loa:3, may not approve their own.
    Operators(idp.home.engine).grant(applicant.sub, "security", by=auth["system"][0])
    tokens = idp.app.extensions["yitong.idp"].tokens
    own = tokens.access_token(None, client_id=auth["security"][0], scope="yitong:admin", resource=SEAL_AUDIENCE,
                              acr="urn:yitong:loa:3", sub=applicant.sub)
    answer = web.post(f"/seal/admin/seals/{esid}/approve", headers={"Authorization": f"Bearer {own}"},
                      json={"reason": "mine"})
    assert answer.status_code == 403 and answer.get_json()["type"].endswith("applicant-approves")
    # Another security administrator, signed in 10 minutes ago, is asked to sign in again (RFC 9470).
    other = idp.accounts.create(username="anquan2", password="Tianjin-2026-correct")
    Operators(idp.home.engine).grant(other.sub, "security", by=auth["system"][0])
    for ago, status in ((600, 401), (30, 200)):
        token = tokens.access_token(None, client_id=auth["security"][0], scope="yitong:admin", resource=SEAL_AUDIENCE,
                                    acr="urn:yitong:loa:3", sub=other.sub, auth_time=int(time.time()) - ago)
        answer = web.post(f"/seal/admin/seals/{esid}/approve", headers={"Authorization": f"Bearer {token}"},
                          json={"reason": "材料齐全"})
        assert answer.status_code == status, answer.get_json()
        if status == 401:
            challenge = answer.headers["WWW-Authenticate"]
            assert 'error="insufficient_user_authentication"' in challenge and "max_age=300" in challenge
    weak = tokens.access_token(None, client_id=auth["security"][0], scope="yitong:admin", resource=SEAL_AUDIENCE,
                               acr="urn:yitong:loa:2", sub=applicant.sub)
    assert web.get("/seal/admin/seals", headers={"Authorization": f"Bearer {weak}"}).status_code == 403
    history = web.get(f"/seal/admin/seals/{esid}", headers=auth["security"][1]).get_json()["history"]
    refused = [e for e in history if e["event"] == "admin.refused"]
    assert [e["actor"] for e in refused] == [f"operator:{auth['system'][0]}", f"operator:{auth['audit'][0]}",
                                             f"operator:{applicant.sub}"]
    assert [e["event"] for e in history] == ["applied", "admin.refused", "admin.refused", "admin.refused", "approved"]


def test_the_audit_administrator_reads_every_seals_actions_with_who_did_them(site):
    idp, web, auth = site
    applicant = idp.accounts.create(username="sunqi", password="Tianjin-2026-correct")
    first, second = _apply(idp, applicant.sub), _apply(idp, applicant.sub)
    security, headers = auth["security"]
    for esid, action in ((first, "approve"), (first, "make"), (first, "suspend"), (second, "approve")):
        assert web.post(f"/seal/admin/seals/{esid}/{action}", headers=headers,
                        json={"reason": "窗口审核"}).status_code == 200
    refused = web.post(f"/seal/admin/seals/{second}/make", headers=auth["audit"][1], json={"reason": "x"})
    assert refused.status_code == 403
    auditor = auth["audit"][1]
    listed = web.get("/seal/admin/events", headers=auditor).get_json()
    # Newest first: the audit administrator's refused attempt, then the security administrator's actions.
    assert [(e["esid"], e["event"], e["actor"]) for e in listed["items"][:5]] == [
        (second, "admin.refused", f"operator:{auth['audit'][0]}"), (second, "approved", f"operator:{security}"),
        (first, "suspended", f"operator:{security}"), (first, "made", f"operator:{security}"),
        (first, "approved", f"operator:{security}")]
    assert listed["items"][2]["reason"] == "窗口审核" and listed["items"][2]["chain_seq"] is not None
    approvals = web.get(f"/seal/admin/events?event=approved&actor=operator:{security}", headers=auditor).get_json()
    assert [e["esid"] for e in approvals["items"]] == [second, first]
    page = web.get("/seal/admin/events?limit=2", headers=auditor).get_json()
    older = web.get(f"/seal/admin/events?limit=2&before={page['next']}", headers=auditor).get_json()
    assert [e["event"] for e in older["items"]] == ["suspended", "made"]
    assert web.get("/seal/admin/events?before=x", headers=auditor).status_code == 400
    chains = web.get("/seal/admin/events/verify", headers=auditor).get_json()["chains"]
    assert [(c["chain"], c["ok"]) for c in chains] == [("seal_events", True), ("seal_usage", True)]
    from sqlalchemy import func, select

    from seal.models import events_table

    with idp.home.engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(events_table)).scalar()
    assert stored >= 7 and chains[0]["records"] == chains[0]["last_seq"] == stored  # every event linked
    for path in ("/seal/admin/events", "/seal/admin/events/verify"):
        assert web.get(path, headers=auth["system"][1]).status_code == 403


def test_the_seal_admin_openapi_document_describes_every_route(site):
    idp, web, _ = site
    answer = web.get("/seal/admin/openapi.json")  # public, like the seal API's description
    assert answer.status_code == 200
    document = answer.get_json()
    check_openapi_covers(document, idp.app, "/seal/admin")
    act = document["paths"]["/seals/{esid}/{action}"]["post"]
    assert act["x-yitong-role"] == ["security"] and act["x-yitong-step-up"] is True
    assert "insufficient_user_authentication" in act["description"]
    assert document["paths"]["/events"]["get"]["x-yitong-role"] == ["security", "audit"]
    technical = web.get("/technical").get_data(as_text=True)
    assert 'href="/seal/admin/openapi.json"' in technical and 'href="/admin/api/v1/openapi.json"' in technical
