"""Hostile input: every exception becomes a verdict, and time and memory stay bounded.

Fuzzing mutates real sealed PDFs (hypothesis, a bounded and derandomised number of examples so the
suite stays fast and reproducible); the hand-made cases cover decompression bombs, deep nesting,
reference loops, huge object counts and the per-document time budget.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from tests.verify.support import base_pdf
from tests.verify.test_cli import validate
from verify import DEFAULT, INDETERMINATE, TOTAL_FAILED, TOTAL_PASSED, Limits, document, verify_pdf

INDICATIONS = {TOTAL_PASSED, TOTAL_FAILED, INDETERMINATE}


class _Doc(bytes):
    def __repr__(self) -> str:  # keep hypothesis' failure reports readable
        return f"<sealed PDF, {len(self)} bytes>"


@pytest.fixture(scope="module")
def sealed(world) -> bytes:
    return _Doc(world.doc("two-p256-fuzz", lambda: world.sign(world.sign(base_pdf(), world.p256), world.sm2,
                                                         field="Seal2", box=(100, 80, 220, 200))))


def _mutate(data: bytes, mutation: tuple) -> bytes:
    kind, position, value, length = mutation
    if not data:
        return data
    index = position % max(1, len(data))
    if kind == "flip":
        return data[:index] + bytes([data[index] ^ (value or 1)]) + data[index + 1:]
    if kind == "truncate":
        return data[:index]
    if kind == "insert":
        return data[:index] + bytes([value]) * length + data[index:]
    if kind == "delete":
        return data[:index] + data[index + length:]
    # duplicate a slice somewhere else (confuses offsets and xref tables)
    chunk = data[index:index + length * 16]
    return data[: (index * 7) % len(data)] + chunk + data[(index * 7) % len(data):]


mutations = st.tuples(st.sampled_from(["flip", "truncate", "insert", "delete", "duplicate"]),
                      st.integers(min_value=0, max_value=10**7), st.integers(min_value=0, max_value=255),
                      st.integers(min_value=1, max_value=64))


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow,
                                                                                   HealthCheck.data_too_large])
@given(st.lists(mutations, min_size=1, max_size=3))
def test_mutated_sealed_pdfs_always_get_a_verdict(world, sealed, changes):
    data = bytes(sealed)
    for change in changes:
        data = _mutate(data, change)
    report = verify_pdf(data, world.trust)
    assert report.indication[0] in INDICATIONS
    if data != sealed and report.indication[0] == TOTAL_PASSED:
        # only the unsigned /Contents padding may change without a failure
        assert len(data) == len(sealed)
    validate(document([report]))


def _raw_pdf(catalog_extra: bytes = b"", size: int | None = None) -> bytes:
    objects = [b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b" >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size or len(objects) + 1, xref))
    return out.getvalue()


def test_deep_nesting_is_a_format_failure(world):
    depth = 200_000
    report = verify_pdf(_raw_pdf(b"/Deep " + b"[" * depth + b"]" * depth), world.trust)
    assert report.indication == (TOTAL_FAILED, "FORMAT_FAILURE")


def test_a_huge_declared_object_count_is_refused(world):
    report = verify_pdf(_raw_pdf(size=50_000_000), world.trust)
    assert report.indication == (TOTAL_FAILED, "FORMAT_FAILURE")
    assert "exceed the limits" in report.document_steps[0].reason


def test_a_form_field_reference_loop_is_a_verdict(world):
    # /Fields [4 0 R] whose field lists itself as its own kid
    data = _raw_pdf(b"/AcroForm << /Fields [4 0 R] >>").replace(
        b"xref", b"4 0 obj\n<< /T (Loop) /Kids [4 0 R] >>\nendobj\nxref", 1)
    report = verify_pdf(data, world.trust)
    assert report.indication[0] in (TOTAL_FAILED, INDETERMINATE)


def test_a_page_tree_loop_after_sealing_fails(world, sealed):
    writer = IncrementalPdfFileWriter(io.BytesIO(sealed), strict=False)
    pages = writer.root["/Pages"]
    pages[generic.NameObject("/Kids")].append(writer.root.raw_get("/Pages"))
    writer.update_container(pages)
    out = io.BytesIO()
    writer.write(out)
    report = verify_pdf(out.getvalue(), world.trust)
    assert report.indication[0] == TOTAL_FAILED


def test_a_decompression_bomb_in_the_dss_is_not_inflated(world, sealed):
    compressor = zlib.compressobj(9)
    zeros = b"\0" * (1 << 20)
    bomb = b"".join(compressor.compress(zeros) for _ in range(200)) + compressor.flush()  # 200 MiB -> ~200 KiB
    writer = IncrementalPdfFileWriter(io.BytesIO(sealed), strict=False)
    stream = writer.add_object(generic.StreamObject({generic.NameObject("/Filter"): generic.NameObject("/FlateDecode")},
                                                    encoded_data=bomb))
    writer.root[generic.NameObject("/DSS")] = generic.DictionaryObject({
        generic.NameObject("/CRLs"): generic.ArrayObject([stream])})
    writer.update_container(writer.root)
    out = io.BytesIO()
    writer.write(out)
    report = verify_pdf(out.getvalue(), world.trust)
    assert report.indication[0] in INDICATIONS
    assert not any(e["type"] == "crl" for s in report.signatures for e in s.evidence)


def test_the_time_budget_turns_a_long_verification_into_a_verdict(world, sealed):
    tiny = replace(DEFAULT, limits=Limits(seconds=0.002))
    report = verify_pdf(sealed * 1, world.trust, policy=tiny)
    assert report.indication[0] in (INDETERMINATE, TOTAL_PASSED)
    if report.indication[0] == INDETERMINATE:
        assert report.document_steps[-1].name == "time_budget"


def test_oversized_input_is_refused_before_parsing(world, sealed):
    small = replace(DEFAULT, limits=Limits(max_bytes=1024))
    report = verify_pdf(sealed, world.trust, policy=small)
    assert report.indication == (TOTAL_FAILED, "FORMAT_FAILURE")
    assert "larger than" in report.document_steps[0].reason


def test_verify_pdf_works_inside_a_running_event_loop(world, sealed):
    import asyncio

    async def caller():
        return verify_pdf(bytes(sealed), world.trust)

    assert asyncio.run(caller()).indication == (TOTAL_PASSED, None)


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutations, min_size=1, max_size=3))
def test_mutated_gbt38540_signatures_always_get_a_verdict(world, changes):
    from tests.verify.support import corpus
    from verify.files import verify_bytes

    data = corpus("ses", "v4signed", "SignedValue.dat").read_bytes()
    for change in changes:
        data = _mutate(data, change)
    report = verify_bytes(data, world.trust, name="SignedValue.dat")
    assert report.indication[0] in INDICATIONS
    validate(document([report]))
