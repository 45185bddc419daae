"""The licence API and CLI against the running service: a business client with a real
client-credentials token issues, retries with its Idempotency-Key, is refused another authority's
type; anyone asks the public status (rate-limited, no personal data); the CLI issues and revokes."""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.parse
import uuid

import pytest

from tests.helpers import run_yitong
from tests.licence.support import (
    FOOD,
    FOOD_DATA,
    PERSON_ID,
    QUALIFICATION,
    QUALIFICATION_DATA,
    SHOP_USCC,
    scan_code,
)
from tests.seal.service import yitong_service
from tests.seal.test_api import assert_problem as problem_of
from tests.seal.test_api import call, cli, client

pytestmark = pytest.mark.e2e
FOOD_AUTHORITY = "11120000MB1A0001XT"


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("licence-api")

    def before_serve(env):
        issuer = client(env, "licence:issue")
        done = run_yitong(["licence", "client", "allow", issuer["client_id"], "--authority", FOOD_AUTHORITY], env)
        assert done.returncode == 0, done.stderr.decode()
        return {"issuer": issuer, "stranger": client(env, "licence:issue")}

    with yitong_service(tmp / "home", before_serve=before_serve) as (base, env, state):
        yield {"base": base, "env": env, "tmp": tmp, **state}


def _token(api, who: str) -> str:
    creds = api[who]
    form = {"grant_type": "client_credentials", "resource": f"{api['base']}/licences", "scope": "licence:issue"}
    basic = base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode()).decode()
    status, _, body = call("POST", api["base"] + "/token", body=urllib.parse.urlencode(form).encode(),
                           headers={"Authorization": f"Basic {basic}",
                                    "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200, body
    return json.loads(body)["access_token"]


def issue(api, body: dict, who: str = "issuer", key: str | None = None):
    headers = {"Authorization": f"Bearer {_token(api, who)}", "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    return call("POST", api["base"] + "/licences/api/v1/licences",
                body=json.dumps(body, ensure_ascii=False).encode(), headers=headers)


FOOD_BODY = {"type": FOOD, "holder_id": SHOP_USCC, "holder_name": "天津市示例餐饮有限公司", "data": FOOD_DATA}


def test_client_issues_and_a_retry_never_issues_twice(api):
    key = uuid.uuid4().hex
    status, headers, body = issue(api, FOOD_BODY, key=key)
    assert status == 201, body
    issued = json.loads(body)
    assert issued["status"] == "valid" and issued["holder"]["id"] == "911201********L296"
    status, _, again = issue(api, FOOD_BODY, key=key)
    assert status == 200 and json.loads(again)["licence_id"] == issued["licence_id"]
    answer = problem_of(issue(api, {**FOOD_BODY, "holder_name": "另一家公司"}, key=key), 409,
                        "idempotency-key-reused")
    assert answer
    bearer = {"Authorization": f"Bearer {_token(api, 'issuer')}"}
    status, headers, pdf = call("GET", f"{api['base']}/licences/api/v1/licences/{issued['licence_id']}/file",
                                headers=bearer)
    assert status == 200 and pdf.startswith(b"%PDF") and headers["Content-Type"] == "application/pdf"
    assert hashlib.sha256(pdf).hexdigest() == issued["sha256"]


def test_refusals_write_nothing(api):
    before = cli(api["env"], "licence", "list", "--json", "--limit", "10000")
    problem, _ = problem_of(issue(api, {**FOOD_BODY, "holder_id": "91120116MA05K3L297",
                                        "holder_name": "<script>x</script>", "data": {**FOOD_DATA, "x": 1}}),
                            422, "invalid-data")
    assert set(problem["errors"]) == {"holder_id", "holder_name", "data.x"}
    qualification = {"type": QUALIFICATION, "holder_id": PERSON_ID, "holder_name": "王小明",
                     "data": QUALIFICATION_DATA}
    problem_of(issue(api, qualification), 403, "authority-not-allowed")
    problem_of(issue(api, FOOD_BODY, who="stranger"), 403, "authority-not-allowed")
    problem_of(issue(api, {**FOOD_BODY, "surprise": True}), 422, "invalid-data")
    status, _, _ = call("POST", api["base"] + "/licences/api/v1/licences", body=json.dumps(FOOD_BODY).encode(),
                        headers={"Content-Type": "application/json"})
    assert status == 401
    assert cli(api["env"], "licence", "list", "--json", "--limit", "10000") == before


def test_cli_issues_and_revokes_and_the_public_status_follows(api, tmp_path):
    data = tmp_path / "data.json"
    data.write_text(json.dumps(QUALIFICATION_DATA, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "licence.pdf"
    issued = cli(api["env"], "licence", "issue", "--type", QUALIFICATION, "--holder-id", PERSON_ID,
                 "--holder-name", "王小明", "--data", str(data), "--format", "pdf", "--out", str(out), "--json")
    assert out.read_bytes().startswith(b"%PDF") and issued["holder"]["id"] == "110105********002X"
    url = f"{api['base']}/licences/api/v1/licences/{issued['licence_id']}/status"
    status, _, body = call("GET", url)
    assert status == 200 and json.loads(body) == {"licence_id": issued["licence_id"], "status": "valid"}
    assert PERSON_ID.encode() not in body and "王".encode() not in body
    revoked = cli(api["env"], "licence", "revoke", issued["licence_id"], "--reason", "注销", "--json")
    assert revoked["status"] == "revoked"
    status, _, body = call("GET", url)
    assert json.loads(body)["status"] == "revoked"
    status, _, page = call("GET", f"{api['base']}/licences/v/{issued['licence_id']}")
    assert status == 200 and "已吊销/注销".encode() in page and PERSON_ID.encode() not in page
    scanned = scan_code(out.read_bytes(), tmp_path)
    status, headers, page = call("GET", scanned)
    text = page.decode()
    assert status == 200 and "已吊销/注销" in text and "王*明" in text and "王小明" not in text
    assert "签发机构印章密钥签名" in text and "nonce-" in headers["Content-Security-Policy"]
    claims, signature = scanned.split("?c=")[1].split(".")
    forged_claims = base64.urlsafe_b64encode(base64.urlsafe_b64decode(claims + "==").replace(
        "王*明".encode(), "李*明".encode())).rstrip(b"=").decode()
    status, _, page = call("GET", f"{api['base']}/licences/v?c={forged_claims}.{signature}")
    assert status == 400 and "signature does not verify" in page.decode()
    status, _, page = call("GET", f"{api['base']}/licences/v?c=%3Cscript%3Ealert(1)%3C/script%3E")
    assert status == 400 and b"<script>" not in page
    done = run_yitong(["licence", "revoke", issued["licence_id"], "--reason", "again"], api["env"])
    assert done.returncode == 2 and done.stderr.decode().startswith("yitong: error:")
    assert b"Traceback" not in done.stderr


def test_status_enumeration_is_rate_limited(api):
    seen = []
    for n in range(70):
        status, headers, _ = call("GET", f"{api['base']}/licences/api/v1/licences/1.2.156.3005.2.x{n}/status")
        seen.append(status)
    assert seen[0] == 400 and 429 in seen
    assert headers.get("Retry-After")
