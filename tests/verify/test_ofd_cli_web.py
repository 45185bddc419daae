"""OFD through `yitong verify`, POST /verify/api/v1/documents and the /verify/ page (corpus files)."""

from __future__ import annotations

import io
import json

import pytest
from flask import Flask

from tests.helpers import clean_env, run_yitong
from tests.ofd.support import build, corpus, corpus_ofd
from tests.verify.test_cli import validate
from verify import web


@pytest.fixture(scope="module")
def anchor() -> bytes:
    return corpus("pdf-sm2", "itext5-sm2-signer.cer").read_bytes()  # anchors none of the OFD corpus


@pytest.fixture
def env() -> dict[str, str]:
    return clean_env()


def test_cli_exit_codes_json_and_html_for_ofd(env, tmp_path):
    trust = str(corpus("pdf-sm2", "itext5-sm2-signer.cer"))
    two_seals = str(corpus("ofd", "anzhengtong-v4-two-seals.ofd"))
    html_dir = tmp_path / "html"
    result = run_yitong(["verify", two_seals, str(corpus("ofd", "ofdrw-v4signed.ofd")), "--trust", trust, "--json",
                         "--html", str(html_dir)], env)
    assert result.returncode == 3, result.stderr.decode()  # untrusted roots: INDETERMINATE, nothing failed
    document = json.loads(result.stdout)
    validate(document)
    first, second = document["files"]
    assert first["format"] == "ofd" and [s["kind"] for s in first["signatures"]] == ["ofd-seal", "ofd-seal"]
    assert second["signatures"][0]["seal"]["picture"]["type"] == "ofd"
    assert first["signatures"][0]["deviations"][0]["name"] == "sm2-der-negative-integer"
    page = (html_dir / "anzhengtong-v4-two-seals.ofd.html").read_text(encoding="utf-8")
    assert "data:image/bmp;base64," in page and "sm2-der-negative-integer" in page
    other = (html_dir / "ofdrw-v4signed.ofd.html").read_text(encoding="utf-8")
    assert "cannot be shown" in other and "OFD vector drawing" in other  # picture type "ofd"
    failed = run_yitong(["verify", str(corpus("ofd", "invoice-example-v4.ofd")),
                         str(corpus("ofd", "ofdrw-helloworld-unsigned.ofd")), "--trust", trust], env)
    assert failed.returncode == 1
    text = failed.stdout.decode()
    assert "HASH_FAILURE" in text and "/Doc_0/Document.xml" in text and "no signature" in text


def test_cli_refuses_what_is_neither_pdf_ofd_nor_seal_with_exit_2(env, tmp_path):
    junk = tmp_path / "letter.ofd"
    junk.write_bytes(b"Dear clerk, this is not a document.")
    archive = tmp_path / "report.ofd"  # a zip, but no OFD.xml: a .docx or an archive
    archive.write_bytes(build([("word/document.xml", b"<w:document/>")]))
    for path in (junk, archive):
        result = run_yitong(["verify", str(path), "--trust", str(corpus("pdf-sm2", "itext5-sm2-signer.cer"))], env)
        assert result.returncode == 2 and b"not a PDF, an OFD" in result.stderr and b"Traceback" not in result.stderr


@pytest.fixture(scope="module")
def client(anchor):
    app = Flask("verify-ofd-test")
    web.register(app, web.VerifyService(lambda: anchor))
    return app.test_client()


def test_documents_api_takes_an_ofd_body_or_form_and_answers_the_schema(client):
    response = client.post("/verify/api/v1/documents", data=corpus_ofd("invoice-example-v4.ofd"),
                           content_type="application/octet-stream")
    assert response.status_code == 200
    document = response.get_json()
    validate(document)
    entry = document["files"][0]
    assert (entry["file"], entry["format"], entry["indication"], entry["sub_indication"]) == (
        "document.ofd", "ofd", "TOTAL_FAILED", "HASH_FAILURE")
    form = client.post("/verify/api/v1/documents", content_type="multipart/form-data",
                       data={"file": (io.BytesIO(corpus_ofd("ofdrw-1-v4.ofd")), "licence.bin")})
    entry = form.get_json()["files"][0]
    assert (entry["file"], entry["format"], entry["indication"]) == ("licence.bin", "ofd", "INDETERMINATE")


def test_documents_api_still_takes_pdfs_and_refuses_the_rest_as_problem_json(client):
    pdf = corpus("pdf-sm2", "itext5-sm2-signed.pdf").read_bytes()
    assert client.post("/verify/api/v1/documents", data=pdf).get_json()["files"][0]["format"] == "pdf"
    refused = client.post("/verify/api/v1/documents", data=b"hello, not a document")
    assert refused.status_code == 415 and refused.headers["Content-Type"] == "application/problem+json"
    assert "OFD" in refused.get_json()["detail"]
    docx = client.post("/verify/api/v1/documents", data=build([("word/document.xml", b"<w:document/>")]))
    assert docx.status_code == 415 and "without OFD.xml" in docx.get_json()["detail"]
    truncated = client.post("/verify/api/v1/documents", data=corpus_ofd("ofdrw-1-v4.ofd")[:3000])
    entry = truncated.get_json()["files"][0]  # a damaged OFD is still reported, with what is wrong
    assert (entry["format"], entry["sub_indication"]) == ("ofd", "FORMAT_FAILURE")
    # the PDF endpoint keeps its contract and points OFDs to the new one
    pdf_only = client.post("/verify/api/v1/pdf", data=corpus_ofd("ofdrw-1-v4.ofd"))
    assert pdf_only.status_code == 415 and "/verify/api/v1/documents" in pdf_only.get_json()["detail"]


def test_the_page_accepts_an_ofd_and_shows_the_stamp_picture(client):
    page = client.get("/verify/")
    assert b".ofd" in page.data and b"/verify/api/v1/documents" in page.data
    response = client.post("/verify/", content_type="multipart/form-data",
                           data={"file": (io.BytesIO(corpus_ofd("anzhengtong-v4-two-seals.ofd")), "court.ofd")})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "court.ofd" in body
    assert body.count("data:image/bmp;base64,") == 2 and "references" in body and "15 of 15" in body
    # each signature: a thumbnail of page 1 (ofd/render.py) with the box of its own stamp
    assert body.count('alt="page thumbnail"') == 2 and body.count('class="box"') == 2
