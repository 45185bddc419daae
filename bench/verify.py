"""verify_pdf against pyhanko's validate_pdf_signature on B-LT documents sealed by seal/ (SM2 and P-256).

For each algorithm a seal is registered in a fresh home and N one-page documents are sealed with
``seal.pdf.seal_pdf`` at level B-LT (signature time-stamp + DSS with chain, CRLs and OCSP), each
a different document. Both verifiers get the trust material (our roots) loaded once; every
iteration reads a different document with its own reader and validation context, as a verifier
handling uploads does. ``verify_pdf`` runs every check of the default policy (structure, byte
range, coverage, integrity, time-stamp, chain, validity, revocation, key usage, GB/T 38540 seal
and its maker chain, modifications); what it may keep between documents is what its own caches
keep (verified signatures by content hash; parsed revocation data by its bytes). Rounds
alternate between the two so that this machine's speed drift hits both alike; the median ratio
is reported: ratio = pyhanko's time per document / ours (issue 19's target: >= 1.5), by wall-clock time and
by this process's CPU time (which other work on a shared machine does not inflate).
"""

from __future__ import annotations

import argparse
import io
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from bench.machine import print_load, verdict
from bench.seal import document, ours_sealer
from keys.pki.signing import YitongSignatureValidator
from verify import TOTAL_PASSED, TrustBundle, verify_pdf

TARGET = 1.5  # issue 19: verify_pdf >= 1.5x pyhanko's validate_pdf_signature


def make_documents(algorithm: str, count: int) -> tuple[list[bytes], bytes]:
    """``count`` distinct one-page documents sealed B-LT by a fresh ``algorithm`` seal, and the trust bundle."""
    from seal.pdf import Placement, seal_pdf

    sealer, pki = ours_sealer(Path(tempfile.mkdtemp(prefix="yitong-bench-verify-")) / "home", algorithm=algorithm,
                              tsa=True, with_pki=True)
    documents = [seal_pdf(sealer, document(index), Placement(page=1, x_mm=160, y_mm=250), level="B-LT").pdf
                 for index in range(count)]
    return documents, pki.trust_bundle()


def time_ours(documents: list[bytes], trust: TrustBundle) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    for data in documents:
        report = verify_pdf(data, trust)
        if report.indication[0] != TOTAL_PASSED:
            raise SystemExit(f"bench: verify_pdf did not pass a genuine document: {report.as_dict()}")
    return (time.perf_counter() - start) / len(documents), (time.process_time() - cpu) / len(documents)


def time_pyhanko(documents: list[bytes], roots, validator) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    for data in documents:
        embedded = PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures[0]
        context = ValidationContext(trust_roots=roots, allow_fetching=False, signature_validator=validator)
        status = validate_pdf_signature(embedded, context)
        if not (status.intact and status.valid and status.trusted):
            raise SystemExit("bench: pyhanko did not pass a genuine document")
    return (time.perf_counter() - start) / len(documents), (time.process_time() - cpu) / len(documents)


def compare(algorithm: str, count: int, rounds: int) -> None:
    documents, bundle = make_documents(algorithm, count)
    trust = TrustBundle.from_bytes(bundle, "bench")  # loaded once
    roots = list(trust.certificates)
    validator = YitongSignatureValidator()
    time_ours(documents[:5], trust)  # warm-up (imports, caches of the Python runtime)
    time_pyhanko(documents[:5], roots, validator)
    documents = documents[5:]  # measured: documents neither side has seen
    ratios, cpu_ratios, ours_ms, theirs_ms = [], [], [], []
    for _ in range(rounds):
        ours, ours_cpu = time_ours(documents, trust)
        theirs, theirs_cpu = time_pyhanko(documents, roots, validator)
        ours_ms.append(ours * 1000)
        theirs_ms.append(theirs * 1000)
        ratios.append(theirs / ours)
        cpu_ratios.append(theirs_cpu / ours_cpu)
    label = {"sm2": "SM2", "p256": "P-256"}[algorithm]
    print(f"{label:5} verify_pdf:           {statistics.median(ours_ms):6.2f} ms/document (median of {rounds} rounds "
          f"over {len(documents)} distinct B-LT documents sealed by seal/)")
    print(f"{label:5} pyhanko validate_pdf: {statistics.median(theirs_ms):6.2f} ms/document")
    print(f"{label:5} ratio pyhanko/ours:   {verdict(statistics.median(ratios), TARGET)}; rounds: "
          f"{', '.join(f'{r:.2f}' for r in ratios)}")
    # This process's CPU time: what the two cost, whatever else the shared machine runs meanwhile.
    print(f"{label:5} same, by CPU time:    {verdict(statistics.median(cpu_ratios), TARGET)}; rounds: "
          f"{', '.join(f'{r:.2f}' for r in cpu_ratios)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=45, help="distinct sealed PDFs per algorithm [45]")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds [3]")
    parser.add_argument("--algorithms", default="sm2,p256", help="seal algorithms [sm2,p256]")
    args = parser.parse_args()
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    print_load("bench/verify.py")
    for algorithm in args.algorithms.split(","):
        compare(algorithm, args.documents, args.rounds)


if __name__ == "__main__":
    main()
