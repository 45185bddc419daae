"""The licence API and CLI against the running service: a business client with a real
client-credentials token issues, retries with its Idempotency-Key, is refused another authority's
type; anyone asks the public status (rate-limited, no personal data); the CLI issues and revokes."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest

from tests.helpers import run_yitong
from tests.licence.support import (
    FOOD,
    FOOD_DATA,
    PERSON_ID,
    QUALIFICATION,
    QUALIFICATION_DATA,
    SHOP_USCC,
    counted,
    scan_code,
)
from tests.seal.service import yitong_service
from tests.seal.test_api import assert_problem as problem_of
from tests.seal.test_api import call, cli, client
from tests.yitong.test_observability import _L

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
    before = counted(api, "yitong_licences_issued_total")
    sealed = _L(format="pdf", level="B-LT", outcome="sealed")
    sealed_before = counted(api, "yitong_documents_sealed_total").get(sealed, 0)
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
    after = counted(api, "yitong_licences_issued_total")  # one issuance, one replay; the 409 issued nothing
    for outcome in ("issued", "replayed"):
        labels = _L(type=FOOD, format="pdf", outcome=outcome)
        assert after[labels] == before.get(labels, 0) + 1, (outcome, after)
    # the licence file was sealed once (B-LT, as licence/pdf_face.py seals it); the replay sealed nothing
    assert counted(api, "yitong_documents_sealed_total")[sealed] == sealed_before + 1


def test_refusals_write_nothing(api):
    before = cli(api["env"], "licence", "list", "--json", "--limit", "10000")
    refused = _L(type=FOOD, format="pdf", outcome="refused")
    refused_before = counted(api, "yitong_licences_issued_total").get(refused, 0)
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
    # The bad data reached the library (counted refused); the unknown field, the 403s and the 401 were
    # stopped by the API before it.
    assert counted(api, "yitong_licences_issued_total")[refused] == refused_before + 1


def test_cli_issues_and_revokes_and_the_public_status_follows(api, tmp_path):
    data = tmp_path / "data.json"
    data.write_text(json.dumps(QUALIFICATION_DATA, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "licence.pdf"
    issued = cli(api["env"], "licence", "issue", "--type", QUALIFICATION, "--holder-id", PERSON_ID,
                 "--holder-name", "王小明", "--data", str(data), "--format", "pdf", "--out", str(out), "--json")
    assert out.read_bytes().startswith(b"%PDF") and issued["holder"]["id"] == "110105********002X"
    url = f"{api['base']}/licences/api/v1/licences/{issued['licence_id']}/status"
    lookups = counted(api, "yitong_licence_status_lookups_total")
    status, _, body = call("GET", url)
    assert status == 200 and json.loads(body) == {"licence_id": issued["licence_id"], "status": "valid"}
    assert PERSON_ID.encode() not in body and "王".encode() not in body
    revoked = cli(api["env"], "licence", "revoke", issued["licence_id"], "--reason", "注销", "--json")
    assert revoked["status"] == "revoked"
    status, _, body = call("GET", url)
    assert json.loads(body)["status"] == "revoked"
    now = counted(api, "yitong_licence_status_lookups_total")
    for answer in ("valid", "revoked"):
        assert now[_L(answer=answer)] == lookups.get(_L(answer=answer), 0) + 1, now
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
    """From a loopback address of its own (127.0.0.2), so the limit it reaches is that address's alone
    and the module's later tests (the scanned-code page shares the limiter) still get answers."""
    import http.client

    target = urllib.parse.urlsplit(api["base"])
    seen, headers = [], {}
    for n in range(70):
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30, source_address=("127.0.0.2", 0))
        try:
            conn.request("GET", f"/licences/api/v1/licences/1.2.156.3005.2.x{n}/status")
            answer = conn.getresponse()
            answer.read()
            seen.append(answer.status)
            headers = dict(answer.getheaders())
        finally:
            conn.close()
    assert seen[0] == 400 and 429 in seen
    assert headers.get("Retry-After")
    status, _, _ = call("GET", f"{api['base']}/licences/api/v1/licences/1.2.156.3005.2.y/status")
    assert status == 400  # 127.0.0.1 is not limited by 127.0.0.2's look-ups


def test_catalogue_commands(api, tmp_path):
    env = api["env"]
    codes = [t["code"] for t in cli(env, "licence", "type", "list", "--json")]
    assert codes == sorted([FOOD, QUALIFICATION, "11100000MB0A000341001"])
    sample = cli(env, "licence", "type", "show", FOOD, "--json")
    assert sample["esid"] and sample["holder_kind"] == "org"
    new = {**sample, "code": "11100000MB0A00018B002", "name": "小餐饮登记证", "validity_years": 3}
    (tmp_path / "new.json").write_text(json.dumps(new, ensure_ascii=False), encoding="utf-8")
    added = cli(env, "licence", "type", "add", str(tmp_path / "new.json"), "--json")
    assert added["code"] == new["code"] and added["validity_years"] == 3
    done = run_yitong(["licence", "type", "add", str(tmp_path / "new.json")], env)
    assert done.returncode == 2 and b"exists" in done.stderr
    updated = cli(env, "licence", "type", "update", "-", "--json",
                  input=json.dumps({**new, "validity_years": 4}, ensure_ascii=False).encode())
    assert updated["validity_years"] == 4
    bad_file = [{**new, "validity_years": 5}, {**new, "code": "11100000MB0A00018B003", "items": []}]
    (tmp_path / "catalogue.json").write_text(json.dumps(bad_file, ensure_ascii=False), encoding="utf-8")
    done = run_yitong(["licence", "type", "import", str(tmp_path / "catalogue.json")], env)
    assert done.returncode == 2 and b"type 2: items" in done.stderr
    assert cli(env, "licence", "type", "show", new["code"], "--json")["validity_years"] == 4  # nothing written
    for broken, message in (({**new, "code": "123"}, b"code must be"),
                            ({**new, "holder_kind": "alien"}, b"holder_kind"),
                            ({**new, "authority_uscc": "11120000MB1A0001XA"}, b"check character"),
                            ({**new, "surprise": 1}, b"unknown field")):
        done = run_yitong(["licence", "type", "update", "-"], env, input=json.dumps(broken).encode())
        assert done.returncode == 2 and message in done.stderr, done.stderr


def test_cli_supersede_and_batch_import(api, tmp_path):
    env = api["env"]
    data = tmp_path / "data.json"
    data.write_text(json.dumps(FOOD_DATA, ensure_ascii=False), encoding="utf-8")
    first = cli(env, "licence", "issue", "--type", FOOD, "--holder-id", SHOP_USCC, "--holder-name",
                "天津市示例餐饮有限公司", "--data", str(data), "--out", str(tmp_path / "v1.pdf"), "--json")
    changed = {**FOOD_DATA, "premises": "天津市河西区友谊路2号"}
    data.write_text(json.dumps(changed, ensure_ascii=False), encoding="utf-8")
    second = cli(env, "licence", "supersede", first["licence_id"], "--data", str(data), "--reason", "变更经营场所",
                 "--out", str(tmp_path / "v2.pdf"), "--json")
    assert second["version"] == 2 and second["licence_id"].split(".")[-3] == first["licence_id"].split(".")[-3]
    shown = cli(env, "licence", "show", first["licence_id"], "--json")
    assert shown["status"] == "superseded" and shown["superseded_by"] == second["licence_id"]
    assert [e["event"] for e in shown["events"]] == ["issued", "superseded"]
    assert shown["events"][1]["reason"] == "变更经营场所" and shown["events"][1]["actor"].startswith("cli/")
    header = "row_key,holder_id,holder_name,sex,occupation,level,assessed_on\n"
    good = [f"paper-{n},{PERSON_ID},王小明,男,焊工,四级/中级工,2023-0{n + 1}-01" for n in range(4)]
    bad = ["paper-x,110105194912310021,王小明,男,焊工,四级/中级工,2023-01-01",
           "paper-y,11010519491231002X,王小明,男,焊工,特级,2023-01-01"]
    rows = tmp_path / "rows.csv"
    rows.write_text(header + "\n".join(good[:2] + bad + good[2:]) + "\n", encoding="utf-8")
    done = run_yitong(["licence", "import", str(rows), "--type", QUALIFICATION], env)
    out = done.stdout.decode()
    assert done.returncode == 1, done.stderr
    assert "6 rows: 4 issued, 0 already imported, 2 failed" in out
    assert "line 4: holder_id:" in out and "line 5: data.level: must be one of" in out
    assert "importing" in done.stderr.decode()  # the progress bar, on stderr
    again = run_yitong(["licence", "import", str(rows), "--type", QUALIFICATION, "--json"], env)
    report = json.loads(again.stdout)
    assert (report["issued"], report["existing"], report["failed"]) == (0, 4, 2)


def _finished(url: str, headers: dict, seconds: float = 300) -> dict:
    """The batch's state once done (the embedded default runs jobs in the server's threads)."""
    deadline = time.monotonic() + seconds
    while True:
        state = json.loads(call("GET", url, headers=headers)[2])
        if state["status"] == "done":
            return state
        assert time.monotonic() < deadline, f"timed out: {state}"
        time.sleep(0.3)


def test_batch_import_through_the_api_on_the_job_queue(api):
    header = "row_key,holder_id,holder_name,legal_representative,premises,business_type,business_items\n"
    rows = [f"shop-{n},{SHOP_USCC},天津市示例餐饮有限公司{n}号店,张三,天津市和平区南京路{n}号,餐饮服务经营者,"
            "热食类食品制售" for n in range(5)]
    rows.insert(2, f"shop-bad,{SHOP_USCC},店,张三,天津市,赌场,热食类食品制售")
    body = (header + "\n".join(rows) + "\n").encode()
    headers = {"Authorization": f"Bearer {_token(api, 'issuer')}", "Content-Type": "text/csv"}
    url = f"{api['base']}/licences/api/v1/batches?type={FOOD}"
    status, response_headers, answer = call("POST", url, body=body, headers=headers)
    assert status == 202, answer
    state = json.loads(answer)
    assert state["total"] == 6
    progress_url = api["base"] + response_headers["Location"]
    state = _finished(progress_url, headers)
    assert (state["issued"], state["existing"], state["failed"]) == (5, 0, 1), state
    assert state["errors"][0]["line"] == 4 and "data.business_type" in state["errors"][0]["errors"]
    status, _, answer = call("POST", url, body=body, headers=headers)  # the same file again: nothing twice
    state = _finished(api["base"] + "/licences/api/v1/batches/" + json.loads(answer)["batch_id"], headers)
    assert (state["issued"], state["existing"], state["failed"]) == (0, 5, 1), state
    stranger = {"Authorization": f"Bearer {_token(api, 'stranger')}"}
    problem_of(call("GET", progress_url, headers=stranger), 404, "batch-not-found")
    problem_of(call("POST", url, body=body, headers={**stranger, "Content-Type": "text/csv"}), 403,
               "authority-not-allowed")
    problem_of(call("POST", url, body=b"{}", headers={**headers, "Content-Type": "application/json"}), 415,
               "not-rows")


def test_malformed_requests_are_clear_problems(api):
    bearer = _token(api, "issuer")
    url = api["base"] + "/licences/api/v1/licences"
    json_headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}
    problem_of(call("POST", url, body=b"[1, 2]", headers=json_headers), 400, "bad-json")
    problem_of(call("POST", url, body=b"{not json", headers=json_headers), 400, "bad-json")
    problem_of(call("POST", url, body=b"x" * (256 * 1024 + 10), headers=json_headers), 413, "too-large")
    problem_of(call("POST", url, body=json.dumps(FOOD_BODY).encode(),
                    headers={**json_headers, "Content-Type": "text/plain"}), 415, "not-json")
    problem_of(call("POST", url, body=json.dumps(FOOD_BODY).encode(),
                    headers={**json_headers, "Idempotency-Key": "key with spaces"}), 400, "bad-idempotency-key")
    problem_of(issue(api, {**FOOD_BODY, "type": "11100000MB0A00018B999"}), 404, "type-not-found")
    problem_of(issue(api, {**FOOD_BODY, "format": "docx"}), 400, "bad-format")
    problem, _ = problem_of(issue(api, {**FOOD_BODY, "data": {**FOOD_DATA, "premises": "长" * 5000}}), 422,
                            "invalid-data")
    assert problem["errors"] == {"data.premises": "at most 120 characters"}
    problem_of(call("GET", f"{api['base']}/licences/api/v1/licences/1.2.156.3005.2.nope",
                    headers={"Authorization": f"Bearer {bearer}"}), 404, "licence-not-found")


def test_scanned_code_page_on_a_phone_sized_browser(api, tmp_path):
    """What a clerk sees after scanning a licence's code with a phone: the live status, the masked
    holder, no horizontal scrolling, the app's nonce CSP honoured (the page's style applies)."""
    from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, _unavailable

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (test extra)")
    if not Path(CHROMIUM).is_file():
        _unavailable(f"{CHROMIUM} is not installed (Debian package chromium)")
    data = tmp_path / "data.json"
    data.write_text(json.dumps(QUALIFICATION_DATA, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "licence.pdf"
    cli(api["env"], "licence", "issue", "--type", QUALIFICATION, "--holder-id", PERSON_ID, "--holder-name",
        "欧阳娜娜", "--data", str(data), "--out", str(out), "--json")
    url = scan_code(out.read_bytes(), tmp_path)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 375, "height": 812})
            page.goto(url)
            status = page.locator("p.s")
            assert status.inner_text() == "有效 Valid"
            assert status.evaluate("e => getComputedStyle(e).color") == "rgb(23, 105, 46)"  # the nonce'd style
            body = page.inner_text("body")
            assert "欧**娜" in body and "欧阳娜娜" not in body and PERSON_ID not in body
            assert page.evaluate("document.documentElement.scrollWidth") <= 375
        finally:
            browser.close()
