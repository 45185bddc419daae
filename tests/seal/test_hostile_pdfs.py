"""Issue 12 item 8: a small PDF must not hang a sealing thread (library, CLI, API and batch job).

The page-tree bomb lists one page 100,000 times (``/Kids [3 0 R ...] /Count 100000``, 600 KB);
finding each page from the root cost O(n²). Pages are now walked once, within page, object and
time limits that hold in any thread.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from seal.pdf import PdfLimits, PdfRefused, Placement, seal_pdf
from seal.registry import sealer_for
from tests.helpers import run_yitong
from tests.hostile_pdfs import many_pages, page_tree_bomb
from tests.seal.pdfs import make_pdf
from tests.seal.test_api import api, assert_problem, call, multipart, sign, token  # noqa: F401 - the api fixture

GENEROUS_SECONDS = 20  # the bomb used to take hours; a shared, slow CPU needs far less than this
API_BOMB_PAGES = 40_000  # 240 KB: under the api fixture's YITONG_SEAL_MAX_BYTES of 300,000


@pytest.fixture(scope="module")
def sealer(seal_home, sm2_seal):
    return sealer_for(seal_home.registry, sm2_seal.esid)


def _refusal(sealer, data: bytes, **kwargs) -> tuple[PdfRefused, float]:
    started = time.monotonic()
    with pytest.raises(PdfRefused) as refused:
        seal_pdf(sealer, data, Placement(), level="B-B", **kwargs)
    return refused.value, time.monotonic() - started


def test_the_page_tree_bomb_is_refused_quickly_as_too_many_pages(sealer):
    refused, seconds = _refusal(sealer, page_tree_bomb())
    assert (refused.kind, refused.status) == ("too-many-pages", 413)
    assert "100000 pages" in str(refused) and "10000" in str(refused)
    assert seconds < GENEROUS_SECONDS


def test_a_page_listed_twice_in_the_page_tree_is_refused(sealer):
    refused, seconds = _refusal(sealer, page_tree_bomb(5000))
    assert (refused.kind, refused.status) == ("broken-pdf", 422)
    assert "object 3 more than once" in str(refused)
    assert seconds < GENEROUS_SECONDS


def test_a_document_declaring_more_objects_than_the_limit_is_refused(sealer):
    refused, _ = _refusal(sealer, many_pages(200), limits=PdfLimits(max_objects=100))
    assert (refused.kind, refused.status) == ("too-many-objects", 413)
    assert "203 objects" in str(refused)


def test_sealing_the_last_page_and_every_page_of_a_long_document_walks_the_tree_once(sealer):
    """8,000 pages took 55.7 s just to list its pages; a single walk is linear."""
    document = many_pages(8000)
    started = time.monotonic()
    last = seal_pdf(sealer, document, Placement(page=8000), level="B-B")
    everywhere = seal_pdf(sealer, document, Placement(page=1, riding=True, pages="all"), level="B-B")
    assert time.monotonic() - started < 2 * GENEROUS_SECONDS
    assert last.page == 8000 and everywhere.page == 1
    assert everywhere.pdf.count(b"/YtSealImg Do") >= 2 * 8000 - 1


def test_the_time_budget_stops_sealing_in_a_worker_thread(sealer):
    """SIGALRM reaches only the main thread; the budget must hold where servers and batch jobs run."""
    outcome: dict = {}

    def work():
        try:
            seal_pdf(sealer, many_pages(6000), Placement(page=1, riding=True), level="B-B",
                     limits=PdfLimits(seconds=0.2))
        except PdfRefused as exc:
            outcome["refused"] = exc

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(GENEROUS_SECONDS)
    assert not worker.is_alive()
    assert outcome["refused"].kind == "too-complex"
    assert "took longer than 0.2 s" in str(outcome["refused"])


def test_the_cli_refuses_the_page_tree_bomb_with_one_line(seal_home, sm2_seal, tmp_path):
    bomb = tmp_path / "bomb.pdf"
    bomb.write_bytes(page_tree_bomb())
    env = {"YITONG_HOME": str(seal_home.root), "YITONG_ISSUER": "http://127.0.0.1:9", "PATH": "/usr/bin:/bin"}
    started = time.monotonic()
    result = run_yitong(["seal", "sign", "--seal", sm2_seal.esid, "--in", str(bomb), "--out",
                         str(tmp_path / "out.pdf"), "--level", "B-B"], env)
    assert time.monotonic() - started < 2 * GENEROUS_SECONDS
    assert result.returncode != 0
    error = result.stderr.decode().strip()
    assert "Traceback" not in error and len(error.splitlines()) == 1
    assert "100000 pages" in error
    assert not (tmp_path / "out.pdf").exists()
    small = tmp_path / "fifty.pdf"
    small.write_bytes(many_pages(50))
    result = run_yitong(["seal", "sign", "--seal", sm2_seal.esid, "--in", str(small), "--out",
                         str(tmp_path / "out.pdf"), "--level", "B-B"], {**env, "YITONG_PDF_MAX_PAGES": "10"})
    assert result.returncode != 0 and "limited to 10" in result.stderr.decode()


@pytest.mark.e2e
def test_the_api_answers_the_page_tree_bomb_with_a_problem_and_keeps_sealing(api):  # noqa: F811
    bearer = token(api, "granted")
    started = time.monotonic()
    problem, _ = assert_problem(sign(api, api["org"], bearer, page_tree_bomb(API_BOMB_PAGES), level="B-B"), 413,
                                "too-many-pages")
    assert time.monotonic() - started < GENEROUS_SECONDS
    assert f"{API_BOMB_PAGES} pages" in problem["detail"]
    status, _, sealed = sign(api, api["org"], bearer, level="B-B")
    assert status == 200 and sealed.startswith(b"%PDF-")


@pytest.mark.e2e
def test_a_batch_job_refuses_the_bomb_and_seals_the_rest(api):  # noqa: F811
    bearer = token(api, "granted")
    body, ctype = multipart([("bomb.pdf", page_tree_bomb(API_BOMB_PAGES)), ("ok.pdf", make_pdf(1, tag="after-bomb"))],
                            {"level": "B-B"})
    status, _, answer = call("POST", f"{api['base']}/seal/seals/{api['org']}/jobs", body=body,
                             headers={"Authorization": f"Bearer {bearer}", "Content-Type": ctype})
    assert status == 202, answer
    job_url = f"{api['base']}/seal/jobs/{json.loads(answer)['job_id']}"
    deadline = time.monotonic() + 2 * GENEROUS_SECONDS
    while True:
        state = json.loads(call("GET", job_url, headers={"Authorization": f"Bearer {bearer}"})[2])
        if state["status"] == "done" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (state["status"], state["done"], state["failed"]) == ("done", 2, 1)
    bomb, ok = state["documents"]
    assert (bomb["status"], ok["status"]) == ("refused", "sealed")
    assert f"{API_BOMB_PAGES} pages" in bomb["error"]
