"""The reference base library: `yitong baselib import` (line-numbered errors, all or nothing,
idempotent) and its signed JSON API over real HTTP (`yitong baselib serve`)."""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from baselib import protocol
from baselib.models import legal_persons_table, persons_table
from tests.baselib.server import (
    CHAN_HK,
    COMPANY,
    CSV,
    LI,
    LI_CARD_FROZEN,
    LI_PHONE,
    LI_PHONE_SUSPENDED,
    PILOT,
    REVOKED,
    WANG_DECEASED,
    ZHANG,
    ZHANG_CARD,
    ZHANG_PHONE,
    ZHAO,
    ZHAO_PHONE,
    baselib_env,
    running_baselib,
)
from tests.helpers import run_yitong
from yitong import db


@pytest.fixture(scope="module")
def baselib(tmp_path_factory):
    with running_baselib(tmp_path_factory.mktemp("baselib")) as server:
        yield server


def call(server, endpoint: str, payload, *, key: bytes | None = None, timestamp: int | None = None,
         nonce: str | None = None, path: str | None = None, raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode()
    url = server.url + endpoint
    path = path or "/baselib" + endpoint
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_urlsafe(18)
    headers = {"Content-Type": "application/json", protocol.TIMESTAMP_HEADER: ts, protocol.NONCE_HEADER: nonce,
               protocol.SIGNATURE_HEADER: protocol.signature(key or server.key, "POST", path, ts, nonce, body)}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get("Content-Type"), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type"), json.loads(exc.read())


def population(server, name, id_number, **kw):
    return call(server, "/api/v1/population/verify", {"name": name, "id_number": id_number}, **kw)


# -- the API --------------------------------------------------------------------------------------------------
def test_population_answers_match_and_no_match_with_evidence(baselib):
    status, ctype, answer = population(baselib, *ZHANG)
    assert status == 200 and ctype.startswith("application/json")
    assert answer["result"] == "match" and answer["checked_at"].endswith("+00:00")
    evidence = answer["evidence"]
    assert evidence["stand_in"] is True and evidence["library"] == "population" and len(evidence["reference"]) == 32
    assert evidence["checks"] == {"id_number": "match", "name": "match"}
    assert population(baselib, "张三丰", ZHANG[1])[2]["evidence"]["checks"]["name"] == "mismatch"
    assert population(baselib, "张三丰", ZHANG[1])[2]["result"] == "no_match"
    assert population(baselib, LI[0], ZHAO[1])[2]["result"] == "no_match"
    unknown = population(baselib, "无名", "11010119991231999" + "5")[2]
    assert unknown["result"] == "no_match" and unknown["evidence"]["checks"] == {"id_number": "not_found"}
    deceased = population(baselib, *WANG_DECEASED)[2]
    assert deceased["result"] == "no_match" and deceased["evidence"]["record_status"] == "deceased"
    assert population(baselib, *CHAN_HK)[2]["result"] == "match"
    assert population(baselib, ZHANG[0], ZHANG[1].lower())[2]["result"] == "match"


def test_legal_person_and_licence(baselib):
    def legal(uscc, name, rep, rep_id=None):
        payload = {"uscc": uscc, "name": name, "legal_representative": rep}
        if rep_id:
            payload["legal_representative_id_number"] = rep_id
        return call(baselib, "/api/v1/legal-person/verify", payload)[2]

    assert legal(COMPANY[1], COMPANY[0], ZHANG[0])["result"] == "match"
    assert legal(COMPANY[1], COMPANY[0], ZHANG[0], ZHANG[1])["result"] == "match"
    wrong_rep_id = legal(COMPANY[1], COMPANY[0], ZHANG[0], LI[1])
    assert wrong_rep_id["result"] == "no_match"
    assert wrong_rep_id["evidence"]["checks"]["legal_representative_id_number"] == "mismatch"
    assert legal(COMPANY[1], COMPANY[0], LI[0])["result"] == "no_match"
    assert legal(PILOT[1], PILOT[0], LI[0])["result"] == "match"  # the pilot code that fails mod 31
    not_on_record = legal(PILOT[1], PILOT[0], LI[0], LI[1])  # no representative ID on record: the name decides
    assert not_on_record["result"] == "match"
    assert not_on_record["evidence"]["checks"]["legal_representative_id_number"] == "not_on_record"
    assert legal(PILOT[1], PILOT[0], ZHANG[0], ZHANG[1])["result"] == "no_match"
    revoked = legal(REVOKED[1], REVOKED[0], ZHAO[0])
    assert revoked["result"] == "no_match" and revoked["evidence"]["record_status"] == "revoked"
    licence = call(baselib, "/api/v1/licence/verify", {"uscc": COMPANY[1], "name": COMPANY[0]})[2]
    assert licence["result"] == "match" and licence["evidence"]["library"] == "business_licence"
    assert call(baselib, "/api/v1/licence/verify", {"uscc": COMPANY[1], "name": "别的公司"})[2]["result"] == "no_match"


def bank(server, name, id_number, card_number, phone):
    return call(server, "/api/v1/bank/verify", {"name": name, "id_number": id_number, "card_number": card_number,
                                                "phone": phone})


def carrier(server, name, id_number, phone):
    return call(server, "/api/v1/carrier/verify", {"name": name, "id_number": id_number, "phone": phone})


def test_bank_four_factor_matches_only_all_four_on_an_active_card(baselib):
    status, _, answer = bank(baselib, *ZHANG, ZHANG_CARD, ZHANG_PHONE)
    assert status == 200 and answer["result"] == "match" and answer["evidence"]["library"] == "bank_4_factor"
    assert answer["evidence"]["checks"] == {"card_number": "match", "id_number": "match", "name": "match",
                                            "phone": "match"}
    assert ZHANG_CARD not in json.dumps(answer)  # the card number is never echoed
    spaced = " ".join(ZHANG_CARD[i:i + 4] for i in range(0, len(ZHANG_CARD), 4))
    assert bank(baselib, *ZHANG, spaced, ZHANG_PHONE)[2]["result"] == "match"
    for name, number, card, phone, field in (("张三丰", ZHANG[1], ZHANG_CARD, ZHANG_PHONE, "name"),
                                             (ZHANG[0], LI[1], ZHANG_CARD, ZHANG_PHONE, "id_number"),
                                             (ZHANG[0], ZHANG[1], ZHANG_CARD, ZHAO_PHONE, "phone")):
        answer = bank(baselib, name, number, card, phone)[2]
        assert answer["result"] == "no_match" and answer["evidence"]["checks"][field] == "mismatch"
    unknown = bank(baselib, *ZHANG, "6222000000000000000", ZHANG_PHONE)[2]
    assert unknown["result"] == "no_match" and unknown["evidence"]["checks"] == {"card_number": "not_found"}
    frozen = bank(baselib, *LI, LI_CARD_FROZEN, LI_PHONE)[2]
    assert frozen["result"] == "no_match" and frozen["evidence"]["record_status"] == "frozen"
    assert bank(baselib, *ZHANG, "not-a-card", ZHANG_PHONE)[2]["result"] == "no_match"
    status, ctype, _ = call(baselib, "/api/v1/bank/verify", {"name": ZHANG[0], "id_number": ZHANG[1],
                                                             "phone": ZHANG_PHONE})
    assert status == 400 and ctype == "application/problem+json"


def test_carrier_three_factor_matches_a_live_line_of_that_person(baselib):
    status, _, answer = carrier(baselib, *ZHANG, ZHANG_PHONE)
    assert status == 200 and answer["result"] == "match" and answer["evidence"]["library"] == "carrier_3_factor"
    assert answer["evidence"]["checks"] == {"phone": "match", "id_number": "match", "name": "match"}
    assert carrier(baselib, *LI, LI_PHONE)[2]["result"] == "match"
    someone_elses = carrier(baselib, *ZHANG, ZHAO_PHONE)[2]
    assert someone_elses["result"] == "no_match" and someone_elses["evidence"]["checks"]["id_number"] == "mismatch"
    assert carrier(baselib, "李思", LI[1], LI_PHONE)[2]["evidence"]["checks"]["name"] == "mismatch"
    suspended = carrier(baselib, *LI, LI_PHONE_SUSPENDED)[2]
    assert suspended["result"] == "no_match" and suspended["evidence"]["record_status"] == "suspended"
    unknown = carrier(baselib, *ZHANG, "13300000000")[2]
    assert unknown["result"] == "no_match" and unknown["evidence"]["checks"] == {"phone": "not_found"}
    assert bank(baselib, *ZHANG, ZHANG_CARD, ZHANG_PHONE)[2]["result"] == "match"
    log = baselib.log()
    assert "carrier_3_factor verify result=match" in log and "bank_4_factor verify result=match" in log
    for secret in (ZHANG_CARD, ZHANG_PHONE, LI_PHONE, ZHANG[1]):
        assert secret not in log


def test_requests_must_be_signed_fresh_and_used_once(baselib):
    def refused(result):
        status, ctype, problem = result
        assert status == 401 and ctype == "application/problem+json", result
        return problem["detail"]

    assert "signature" in refused(population(baselib, *ZHANG, key=secrets.token_bytes(32)))
    assert "timestamp" in refused(population(baselib, *ZHANG, timestamp=int(time.time()) - 301))
    assert "timestamp" in refused(population(baselib, *ZHANG, timestamp=int(time.time()) + 301))
    assert population(baselib, *ZHANG, timestamp=int(time.time()) - 200)[0] == 200  # within the window
    nonce = secrets.token_urlsafe(18)
    assert population(baselib, *ZHANG, nonce=nonce)[0] == 200
    assert "already used" in refused(population(baselib, *ZHANG, nonce=nonce))
    assert "nonce" in refused(population(baselib, *ZHANG, nonce="short"))
    # The signature covers the path: a signature made for another endpoint does not verify here.
    assert "signature" in refused(population(baselib, *ZHANG, path="/baselib/api/v1/licence/verify"))
    unsigned = urllib.request.Request(baselib.url + "/api/v1/population/verify", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(unsigned, timeout=10)
    assert caught.value.code == 401 and "X-Baselib-Signature" in json.loads(caught.value.read())["detail"]


def test_bad_bodies_are_problems_not_errors(baselib):
    for raw in (b"not json", b"[1, 2]", b'{"name": "x"}', b'{"name": 1, "id_number": "x"}'):
        status, ctype, problem = call(baselib, "/api/v1/population/verify", None, raw=raw)
        assert status == 400 and ctype == "application/problem+json" and problem["status"] == 400
    status, ctype, _ = call(baselib, "/api/v1/nothing-here", {"a": 1})
    assert status == 404 and ctype == "application/problem+json"
    huge = json.dumps({"name": "x" * 20000, "id_number": ZHANG[1]}).encode()
    status, ctype, problem = call(baselib, "/api/v1/population/verify", None, raw=huge)
    assert status == 413 and ctype == "application/problem+json" and "16384" in problem["detail"]


def test_index_page_says_it_is_a_stand_in_and_logs_carry_no_pii(baselib):
    page = urllib.request.urlopen(baselib.url + "/", timeout=10).read().decode()
    assert 'id="stand-in"' in page and "not real data" in page and "不是真实数据" in page
    assert 'id="persons">5<' in page and 'id="legal-persons">3<' in page
    assert 'id="bank-cards">2<' in page and 'id="mobiles">4<' in page
    population(baselib, *ZHANG)
    log = baselib.log()
    assert "population verify result=match" in log
    for secret in (ZHANG[0], ZHANG[1], LI[1], COMPANY[0]):
        assert secret not in log


# -- import -----------------------------------------------------------------------------------------------------
@pytest.fixture
def fresh_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    engine = db.make_engine(make_url(f"sqlite:///{home / 'yitong.db'}"))
    db.upgrade(engine)
    yield {**baselib_env(home, secrets.token_bytes(16)), "YITONG_LOG_LEVEL": "WARNING"}, engine
    engine.dispose()


def counts(engine):
    with engine.connect() as conn:
        return (conn.execute(select(func.count()).select_from(persons_table)).scalar(),
                conn.execute(select(func.count()).select_from(legal_persons_table)).scalar())


def test_import_is_idempotent_and_updates_changed_rows(fresh_home, tmp_path):
    env, engine = fresh_home
    source = tmp_path / "records.csv"
    source.write_bytes(b"\xef\xbb\xbf" + CSV.encode())  # Excel's BOM is fine
    first = run_yitong(["baselib", "import", str(source), "--json"], env)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"inserted": 8, "updated": 0, "unchanged": 0, "persons": 5,
                                        "legal_persons": 3, "bank_cards": 0, "mobiles": 0}
    again = json.loads(run_yitong(["baselib", "import", str(source), "--json"], env).stdout)
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 8)
    source.write_text(CSV.replace(f"{LI[1]},{LI[0]},,,", f"{LI[1]},{LI[0]},,,cancelled"), encoding="utf-8")
    changed = json.loads(run_yitong(["baselib", "import", str(source), "--json"], env).stdout)
    assert (changed["inserted"], changed["updated"], changed["unchanged"]) == (0, 1, 7)
    assert counts(engine) == (5, 3)


def test_import_errors_name_their_lines_and_import_nothing(fresh_home, tmp_path):
    env, engine = fresh_home
    source = tmp_path / "bad.csv"
    bad_check = ZHANG[1][:-1] + "1"
    source.write_text("\n".join([
        "kind,id_number,name,legal_representative,status",
        f"person,{LI[1]},{LI[0]},,active",
        f"person,{bad_check},某人,,active",
        f"company,{COMPANY[1]},{COMPANY[0]},{ZHANG[0]},active",
        f"legal_person,{COMPANY[1]},{COMPANY[0]},,active",
        f"legal_person,91110000600O37341L,某公司,{ZHANG[0]},active",
        f"person,{ZHAO[1]},{ZHAO[0]},,sleeping",
        f"person,{LI[1]},{LI[0]},,active",
    ]) + "\n", encoding="utf-8")
    result = run_yitong(["baselib", "import", str(source)], env)
    assert result.returncode == 2 and result.stdout == b""
    lines = result.stderr.decode().splitlines()
    assert [line.split(": ")[3] for line in lines] == [f"line {n}" for n in (3, 4, 5, 6, 7, 8)]
    assert "GB 11643 check character" in lines[0]
    assert "kind must be person, legal_person, bank_card or mobile" in lines[1]
    assert "legal_representative" in lines[2] and "USCC" in lines[3] and "status" in lines[4]
    assert "repeats line 2" in lines[5]
    assert bad_check not in result.stderr.decode()
    assert counts(engine) == (0, 0)


@pytest.mark.parametrize("content, message", [
    ("", "the file is empty"),
    ("id,name\n1,2\n", "line 1: the header must name columns"),
    ("kind,id_number\nperson,1\n", "missing: name"),
])
def test_import_refuses_bad_headers(fresh_home, tmp_path, content, message):
    env, _ = fresh_home
    source = tmp_path / "x.csv"
    source.write_text(content, encoding="utf-8")
    result = run_yitong(["baselib", "import", str(source)], env)
    assert result.returncode == 2 and message in result.stderr.decode()
    assert len(result.stderr.decode().strip().splitlines()) == 1


def test_import_of_a_missing_file_or_unmigrated_home_is_one_line(tmp_path, fresh_home):
    env, _ = fresh_home
    missing = run_yitong(["baselib", "import", str(tmp_path / "nope.csv")], env)
    assert missing.returncode == 2 and b"cannot read" in missing.stderr and b"Traceback" not in missing.stderr
    (tmp_path / "ok.csv").write_text(CSV, encoding="utf-8")
    empty_home = {**env, "YITONG_HOME": str(tmp_path / "empty-home")}
    unmigrated = run_yitong(["baselib", "import", str(tmp_path / "ok.csv")], empty_home)
    assert unmigrated.returncode == 2 and b"yitong db upgrade" in unmigrated.stderr
    assert b"Traceback" not in unmigrated.stderr
