"""The public seal query (印章查询) against the running service: by esID, the API and the page give
holder (a person's name masked), type, status and validity with a small watermarked picture only;
unknown or malformed esIDs are clear 404/400 answers; look-ups are rate-limited (429, Retry-After)."""

from __future__ import annotations

import io
import json
import re

import pytest
from PIL import Image, ImageChops

from tests.helpers import run_yitong
from tests.seal.service import yitong_service
from tests.seal.test_api import PASSWORD, call, cli

pytestmark = pytest.mark.e2e
ORG_USCC = "91120116MA05K3L296"
ORG_NAME = "天津市示例餐饮有限公司"


@pytest.fixture(scope="module")
def query(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("seal-query")

    def before_serve(env):
        user = cli(env, "user", "create", "--username", "wangxm", "--name", "王小明", "--password-stdin", "--json",
                   input=PASSWORD.encode() + b"\n")
        org = cli(env, "seal", "create", "--holder-kind", "org", "--holder-id", ORG_USCC, "--holder-name", ORG_NAME,
                  "--type", "04", "--json")
        person = cli(env, "seal", "create", "--holder-kind", "person", "--holder-id", user["sub"],
                     "--holder-name", "王小明", "--type", "05", "--json")
        suspended = cli(env, "seal", "create", "--holder-kind", "org", "--holder-id", ORG_USCC, "--holder-name",
                        ORG_NAME, "--type", "02", "--json")
        done = run_yitong(["seal", "suspend", suspended["esid"], "--reason", "挂失"], env)
        assert done.returncode == 0, done.stderr.decode()
        full = tmp / "full.png"
        done = run_yitong(["seal", "export", org["esid"], "--png", str(full)], env)
        assert done.returncode == 0, done.stderr.decode()
        return {"org": org["esid"], "person": person["esid"], "sub": user["sub"], "suspended": suspended["esid"],
                "full_png": full.read_bytes()}

    with yitong_service(tmp / "home", before_serve=before_serve) as (base, env, state):
        yield {"base": base, "env": env, **state}


def _json(query, esid: str) -> tuple[int, dict, dict]:
    status, headers, body = call("GET", f"{query['base']}/seal/api/v1/public/seals/{esid}")
    return status, headers, json.loads(body)


def test_an_organisation_seal_is_public_with_a_small_watermarked_picture_only(query):
    status, headers, seal = _json(query, query["org"])
    assert status == 200 and headers["Cache-Control"] == "no-store"
    assert seal["esid"] == query["org"] and seal["status"] == "active" and seal["type"] == 4
    assert seal["holder"] == {"kind": "organisation", "name": ORG_NAME} and seal["type_label"] == "合同专用章"
    assert seal["valid_from"] and seal["valid_to"] > seal["valid_from"]
    assert ORG_USCC not in json.dumps(seal) and "cert" not in json.dumps(seal)

    status, headers, picture = call("GET", query["base"] + seal["image_url"])
    assert status == 200 and headers["Content-Type"] == "image/png"
    full = Image.open(io.BytesIO(query["full_png"]))
    shown = Image.open(io.BytesIO(picture))
    assert max(shown.size) <= 96 < max(full.size)  # low resolution only
    assert picture not in query["full_png"] and query["full_png"] not in picture
    plain = full.convert("RGBA")
    plain.thumbnail(shown.size, Image.Resampling.LANCZOS)
    flat = Image.new("RGBA", plain.size, (255, 255, 255, 255))
    flat.alpha_composite(plain)
    difference = ImageChops.difference(flat.convert("RGB"), shown.convert("RGB")).getbbox()
    assert difference is not None and (difference[2] - difference[0]) > shown.size[0] // 2  # the watermark spans it
    # The full-resolution picture stays behind a token.
    status, _, _ = call("GET", f"{query['base']}/seal/seals/{query['org']}/image.png")
    assert status == 401

    status, _, page = call("GET", f"{query['base']}/seal/query?esid={query['org']}")
    text = page.decode()
    assert status == 200 and ORG_NAME in text and "合同专用章" in text and 'id="seal-status"' in text
    assert re.findall(r'<img src="([^"]+)"', text) == [seal["image_url"]]
    status, _, page = call("GET", f"{query['base']}/seal/query?esid={query['org']}&lang=en")
    assert status == 200 and "Seal query" in page.decode() and ">Active<" in page.decode()
    assert "Contract seal" in page.decode() and seal["type_label_en"] == "Contract seal"


def test_a_person_is_masked_and_statuses_are_shown(query):
    status, _, seal = _json(query, query["person"])
    assert status == 200 and seal["holder"] == {"kind": "person", "name": "王*明"} and "name" not in seal
    assert "王小明" not in json.dumps(seal, ensure_ascii=False) and query["sub"] not in json.dumps(seal)
    status, _, page = call("GET", f"{query['base']}/seal/query?esid={query['person']}")
    assert status == 200 and "王*明" in page.decode() and "王小明" not in page.decode()
    status, _, seal = _json(query, query["suspended"])
    assert status == 200 and seal["status"] == "suspended"
    status, _, page = call("GET", f"{query['base']}/seal/query?esid={query['suspended']}")
    assert status == 200 and "已挂失/暂停" in page.decode()


def test_unknown_and_malformed_esids_are_clear_answers(query):
    unknown = "12000099999999"
    status, headers, body = call("GET", f"{query['base']}/seal/api/v1/public/seals/{unknown}")
    assert status == 404 and headers["Content-Type"] == "application/problem+json"
    assert json.loads(body)["type"] == "urn:yitong:problem:seal:seal-not-found"
    status, headers, body = call("GET", f"{query['base']}/seal/api/v1/public/seals/%3Cscript%3E")
    assert status == 400 and json.loads(body)["type"] == "urn:yitong:problem:seal:bad-esid"
    status, _, page = call("GET", f"{query['base']}/seal/query?esid={unknown}")
    assert status == 404 and "没有这枚印章" in page.decode()
    status, _, page = call("GET", f"{query['base']}/seal/query?esid=%3Cscript%3Ealert(1)%3C/script%3E")
    assert status == 400 and b"<script>alert" not in page and "印章编码格式不正确" in page.decode()
    status, _, page = call("GET", f"{query['base']}/seal/query")
    assert status == 200 and 'name="esid"' in page.decode()
    status, _, body = call("GET", f"{query['base']}/seal/openapi.json")
    paths = json.loads(body)["paths"]
    assert paths["/api/v1/public/seals/{esid}"]["get"]["security"] == []
    assert "429" in paths["/api/v1/public/seals/{esid}/image.png"]["get"]["responses"]


def test_lookups_are_rate_limited(query):
    from seal.public import RATE_LIMIT

    statuses = []
    for _ in range(RATE_LIMIT + 1):
        status, headers, _ = call("GET", f"{query['base']}/seal/api/v1/public/seals/{query['org']}")
        statuses.append(status)
    refused = statuses.index(429)  # earlier tests in this module used part of the minute's allowance
    assert set(statuses[:refused]) <= {200} and set(statuses[refused:]) == {429} and int(headers["Retry-After"]) > 0
    assert headers["Content-Type"] == "application/problem+json"
    status, headers, page = call("GET", f"{query['base']}/seal/query?esid={query['org']}")
    assert status == 429 and int(headers["Retry-After"]) > 0 and "查询过于频繁" in page.decode()
    status, _, _ = call("GET", f"{query['base']}/seal/api/v1/public/seals/{query['org']}/image.png")
    assert status == 429
