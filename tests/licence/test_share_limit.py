"""The sharing API's per-client rate limit (YITONG_LICENCE_SHARE_RATE_LIMIT): a department's system
cannot crawl the library; above the limit it gets 429 problem+json with Retry-After, and the refused
request is not recorded as a use; another client keeps its own allowance."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from licence.models import uses_table
from licence.sharing import ShareGrants
from tests.idp.support import ISSUER, make_idp
from tests.licence.support import FOOD, SHOP_USCC, food

pytestmark = pytest.mark.storage
PURPOSE = "食品经营监督检查"
SHARE = "/licences/api/v1/share/licences"


def test_a_client_above_its_sharing_limit_gets_429_and_nothing_is_recorded(storage, tmp_path):
    idp = make_idp(storage, tmp_path, with_pki=True, YITONG_LICENCE_SHARE_RATE_LIMIT="2")
    web = idp.app.test_client()
    library = idp.app.extensions["yitong.licence"]["library"]()
    issued = library.issue(food(), actor="test:issuer")
    grants = ShareGrants(idp.home.engine, library.audit_chain)

    def sharer() -> dict:
        client, secret = idp.client(grants=("client_credentials",), scope="licence:share")
        grants.add(client.client_id, [FOOD], PURPOSE, sensitive=False, basis="《食品安全法》", actor="test",
                   catalogue=library.catalogue)
        answer = web.post("/token", data={"grant_type": "client_credentials", "client_id": client.client_id,
                                          "client_secret": secret, "scope": "licence:share",
                                          "resource": f"{ISSUER}/licences"})
        assert answer.status_code == 200, answer.get_json()
        return {"Authorization": f"Bearer {answer.get_json()['access_token']}"}

    def uses() -> int:
        with idp.home.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(uses_table)).scalar()

    crawler, other = sharer(), sharer()
    query = {"holder_id": SHOP_USCC, "purpose": PURPOSE}
    listed = web.get(SHARE, headers=crawler, query_string=query)
    assert listed.status_code == 200 and [lic["licence_id"] for lic in listed.get_json()["licences"]] == [
        issued.licence_id]
    assert web.get(f"{SHARE}/{issued.licence_id}/status", headers=crawler, query_string=query).status_code == 200
    recorded = uses()
    assert recorded == 2

    refused = web.get(f"{SHARE}/{issued.licence_id}", headers=crawler, query_string=query)
    assert refused.status_code == 429 and refused.headers["Content-Type"] == "application/problem+json"
    assert refused.get_json()["type"].endswith(":rate-limited") and 0 < int(refused.headers["Retry-After"]) <= 60
    assert uses() == recorded  # the refused request read and recorded nothing
    assert web.get(SHARE, headers=other, query_string=query).status_code == 200  # per client, not global
