"""/licences/admin/: the security administrator reads the licence catalogue and licences and revokes
one with a reason after a recent sign-in; the audit administrator reads; other roles are refused."""

from __future__ import annotations

import time

import pytest

from idp.operators import Operators
from tests.helpers import check_openapi_covers
from tests.idp.support import ISSUER, make_idp
from tests.licence.support import FOOD, SHOP_USCC, food

pytestmark = pytest.mark.storage
AUDIENCE = f"{ISSUER}/licences"


def test_licence_types_and_revocations_for_operators(storage, tmp_path):
    idp = make_idp(storage, tmp_path, with_pki=True, YITONG_ADMIN_STEPUP_SECONDS="100")
    web = idp.app.test_client()
    tokens = idp.app.extensions["yitong.idp"].tokens
    operators = Operators(idp.home.engine)
    auth, subs = {}, {}
    for role in ("system", "security", "audit"):
        client, secret = idp.client(grants=("client_credentials",), scope="yitong:admin")
        operators.grant(client.client_id, role, by=None if role == "system" else subs["system"])
        answer = web.post("/token", data={"grant_type": "client_credentials", "client_id": client.client_id,
                                          "client_secret": secret, "scope": "yitong:admin", "resource": AUDIENCE})
        assert answer.status_code == 200, answer.get_json()
        subs[role], auth[role] = client.client_id, {"Authorization": f"Bearer {answer.get_json()['access_token']}"}
    library = idp.app.extensions["yitong.licence"]["library"]()
    issued = library.issue(food(), actor="test:issuer")
    security = auth["security"]

    types = web.get("/licences/admin/types", headers=security).get_json()["items"]
    food_type = next(t for t in types if t["code"] == FOOD)
    assert food_type["licences"] == 1 and food_type["name"]
    assert [t["code"] for t in web.get("/licences/admin/types?q=" + food_type["name"][:3],
                                       headers=security).get_json()["items"]] == [FOOD]
    definition = web.get(f"/licences/admin/types/{FOOD}", headers=security).get_json()["definition"]
    assert {i["name"] for i in definition["items"]} >= {"legal_representative", "premises"}
    assert web.get("/licences/admin/types/NOPE", headers=security).status_code == 404
    listed = web.get(f"/licences/admin/licences?type={FOOD}&status=valid", headers=security).get_json()
    assert [lic["licence_id"] for lic in listed["items"]] == [issued.licence_id] and listed["next"] is None
    assert SHOP_USCC not in str(listed)  # the holder's number is masked
    assert web.get("/licences/admin/licences?status=lost", headers=security).status_code == 400
    shown = web.get(f"/licences/admin/licences/{issued.licence_id}", headers=auth["audit"]).get_json()
    assert shown["status"] == "valid" and [e["event"] for e in shown["events"]] == ["issued"]

    # Other roles: the system administrator reads nothing, the audit administrator never acts.
    path = f"/licences/admin/licences/{issued.licence_id}/revoke"
    assert web.get("/licences/admin/types", headers=auth["system"]).status_code == 403
    refused = web.post(path, headers=auth["audit"], json={"reason": "x"})
    assert refused.status_code == 403 and refused.get_json()["type"].endswith("wrong-role")
    assert web.get("/licences/admin/types").status_code == 401

    # A security administrator signed in longer ago than YITONG_ADMIN_STEPUP_SECONDS (100 here, not the
    # default 300) is asked to sign in again (RFC 9470), told the window in max_age.
    person = idp.accounts.create(username="anquan", password="Tianjin-2026-correct")
    operators.grant(person.sub, "security", by=subs["system"])

    def signed_in(ago: int) -> dict:
        token = tokens.access_token(None, client_id=subs["security"], scope="yitong:admin", resource=AUDIENCE,
                                    acr="urn:yitong:loa:3", sub=person.sub, auth_time=int(time.time()) - ago)
        return {"Authorization": f"Bearer {token}"}

    assert web.post(path, headers=signed_in(30), json={}).status_code == 400  # no reason
    stale = web.post(path, headers=signed_in(200), json={"reason": "许可证被吊销"})
    assert stale.status_code == 401 and "insufficient_user_authentication" in stale.headers["WWW-Authenticate"]
    assert "max_age=100" in stale.headers["WWW-Authenticate"] and "100 seconds" in stale.get_json()["detail"]
    assert library.get(issued.licence_id).status == "valid"
    done = web.post(path, headers=signed_in(30), json={"reason": "许可证被吊销"})
    assert done.status_code == 200 and done.get_json()["status"] == "revoked"
    assert web.get(f"/licences/api/v1/licences/{issued.licence_id}/status").get_json()["status"] == "revoked"
    again = web.post(path, headers=signed_in(30), json={"reason": "again"})
    assert again.status_code == 409 and again.headers["Content-Type"] == "application/problem+json"
    history = web.get(f"/licences/admin/licences/{issued.licence_id}", headers=security).get_json()["events"]
    assert [(e["event"], e["actor"]) for e in history] == [
        ("issued", "test:issuer"), ("admin.refused", f"operator:{subs['audit']}"),
        ("revoked", f"operator:{person.sub}")]
    assert history[-1]["reason"] == "许可证被吊销"

    document = web.get("/licences/admin/openapi.json").get_json()
    check_openapi_covers(document, idp.app, "/licences/admin")
    assert document["paths"]["/licences/{licence_id}/revoke"]["post"]["x-yitong-step-up"] is True

    # The public/business API's description: every route under /licences/api/v1 (sharing included),
    # problem+json errors, the token's scopes (one consent scope per catalogue type), Idempotency-Key.
    public = web.get("/licences/api/v1/openapi.json")
    assert public.status_code == 200 and public.headers["Cache-Control"].startswith("public")
    api_document = public.get_json()
    described = check_openapi_covers(api_document, idp.app, "/licences/api/v1")
    assert ("/share/licences/{licence_id}/file", "GET") in described and ("/batches", "POST") in described
    flows = api_document["components"]["securitySchemes"]["licenceToken"]["flows"]
    assert set(flows["clientCredentials"]["scopes"]) == {"licence:issue", "licence:share"}
    assert f"licence:read:{FOOD}" in flows["authorizationCode"]["scopes"]
    issuing = api_document["paths"]["/licences"]["post"]
    assert [p["name"] for p in issuing["parameters"] if p["in"] == "header"] == ["Idempotency-Key"]
    assert issuing["security"] == [{"licenceToken": ["licence:issue"]}]
    assert api_document["paths"]["/licences/{licence_id}/status"]["get"]["security"] == []  # public
    assert set(api_document["paths"]["/share/licences"]["get"]["responses"]["429"]["content"]) == {
        "application/problem+json"}
