"""/seal/admin/: the security administrator approves, makes and suspends seals with a token of
Yitong's own IdP carrying the operator role; other roles and the applicant are refused."""

from __future__ import annotations

import pytest

from idp.operators import Operators
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
    weak = tokens.access_token(None, client_id=auth["security"][0], scope="yitong:admin", resource=SEAL_AUDIENCE,
                               acr="urn:yitong:loa:2", sub=applicant.sub)
    assert web.get("/seal/admin/seals", headers={"Authorization": f"Bearer {weak}"}).status_code == 403
    history = web.get(f"/seal/admin/seals/{esid}", headers=auth["security"][1]).get_json()["history"]
    refused = [e for e in history if e["event"] == "admin.refused"]
    assert [e["actor"] for e in refused] == [f"operator:{auth['system'][0]}", f"operator:{auth['audit'][0]}",
                                             f"operator:{applicant.sub}"]
    assert history[-1]["event"] == "admin.refused" and len(history) == 4  # nothing moved
