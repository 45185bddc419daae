"""Verification of documents sealed by seal/ itself: the positive cases of issue 7 come from seal/.

A relying party with only the exported trust bundle verifies, offline, PDFs that seal/ sealed:
SM2 and P-256, keyword-anchored, on several pages with the riding-seam seal, and a second seal
added later by incremental update. Every signature must be TOTAL_PASSED with its seal named.
"""

from __future__ import annotations

import pytest

from seal.pdf import Placement, seal_pdf
from seal.registry import sealer_for
from tests.seal.pdfs import make_pdf
from tests.seal.support import ORG_NAME, ORG_USCC, open_seal_home
from verify import verify_pdf


@pytest.fixture(scope="module")
def sealed(tmp_path_factory):
    home = open_seal_home(tmp_path_factory.mktemp("sealed-by-seal"))
    made = {algorithm: home.registry.create(holder_kind="org", holder_id=ORG_USCC, holder_name=ORG_NAME,
                                            seal_type=code, algorithm=algorithm, actor="test", reason="test")
            for algorithm, code in (("sm2", 6), ("p256", 4))}
    sealers = {algorithm: sealer_for(home.registry, seal.esid) for algorithm, seal in made.items()}
    return home, made, sealers


def signatures(report) -> list[dict]:
    return report.as_dict()["signatures"]


def test_an_sm2_seal_on_several_pages_with_the_riding_seam_passes_offline(sealed):
    home, made, sealers = sealed
    document = make_pdf(3, keyword_page=2)
    result = seal_pdf(sealers["sm2"], document, Placement(keyword="（盖章）", pages="all", riding=True))
    report = verify_pdf(result.pdf, home.trust_pem.read_bytes())
    assert report.indication == ("TOTAL_PASSED", None), report.as_dict()
    [signature] = signatures(report)
    assert signature["seal"]["es_id"] == made["sm2"].esid


def test_a_second_seal_added_later_keeps_the_first_valid_and_both_pass(sealed):
    home, made, sealers = sealed
    first = seal_pdf(sealers["p256"], make_pdf(1, tag="two-seals"), Placement(page=1, x_mm=60, y_mm=200))
    second = seal_pdf(sealers["sm2"], first.pdf, Placement(page=1, x_mm=150, y_mm=230))
    report = verify_pdf(second.pdf, home.trust_pem.read_bytes())
    assert report.indication == ("TOTAL_PASSED", None), report.as_dict()
    assert [s["seal"]["es_id"] for s in signatures(report)] == [made["p256"].esid, made["sm2"].esid]


def test_a_byte_changed_in_a_sealed_document_fails(sealed):
    home, _, sealers = sealed
    pdf = bytearray(seal_pdf(sealers["sm2"], make_pdf(1, tag="tamper"), Placement(page=1, x_mm=100, y_mm=100)).pdf)
    index = pdf.index(b"Yitong test document")
    pdf[index] ^= 0x20
    report = verify_pdf(bytes(pdf), home.trust_pem.read_bytes())
    assert report.indication[0] == "TOTAL_FAILED", report.as_dict()
