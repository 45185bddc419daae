"""OFD sealing and verification rates against PDF, side by side in one run.

Sealing (one visible SM2 seal on a one-page document, B-B: no time-stamp, every iteration a different
document, nothing cached between documents but what a signer keeps — key, certificates, the SESeal):

- ours, OFD: ``seal.ofd.seal_ofd`` (Signature.xml with a Reference per file, V4 SES_Signature);
- ours, PDF: ``seal.pdf.seal_pdf`` (the same seal, the same registry: bench/seal.py's path);
- pyhanko's default PDF path: ``signers.sign_pdf`` with a P-256 ``SimpleSigner`` (bench/seal.py).

The OFD documents are one page made by ``ofd.make`` whose text carries the iteration number (the
base is made once; each copy's Content.xml is rewritten with ``ofd.writer``, which is how they differ).
Rounds alternate the three; ratios are medians of per-round ratios (target: OFD sealing at least as
fast as our PDF sealing). Then verification: ``verify_ofd`` of sealed OFDs against ``verify_pdf`` of
sealed PDFs, the same seal, trust loaded once.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

_spec = importlib.util.spec_from_file_location("bench_seal", HERE / "seal.py")
bench_seal = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_seal)

NUMBER = "第 0000000 号"


def ofd_documents(start: int, count: int) -> list[bytes]:
    from ofd.make import Page, Rect, Text, make_ofd
    from ofd.package import OfdPackage
    from ofd.writer import write_package

    global _BASE
    if "_BASE" not in globals():
        _BASE = make_ofd([Page(210, 297, [Text(20, 30, "准予行政许可决定书", size_mm=7),
                                          Text(20, 45, f"津审批 {NUMBER} 0123456789"), Rect(15, 15, 180, 267)])])
    page = "Doc_0/Pages/Page_0/Content.xml"
    content = OfdPackage.open(_BASE).read(page)
    return [write_package(_BASE, {page: content.replace(NUMBER.encode(), f"第 {n:07d} 号".encode())})
            for n in range(start, start + count)]


def rate(function, docs: list[bytes]) -> float:
    start = time.perf_counter()
    for data in docs:
        function(data)
    return len(docs) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100, help="documents per side per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from seal.ofd import seal_ofd
    from seal.pdf import Placement, seal_pdf

    placement = Placement(page=1, x_mm=160, y_mm=250)
    with tempfile.TemporaryDirectory(prefix="yitong-bench-ofd-") as tmp_name:
        tmp = Path(tmp_name)
        sealer = bench_seal.ours_sealer(tmp / "home")
        default_signer = bench_seal.pyhanko_default_signer(tmp)

        def ofd(data: bytes) -> bytes:
            return seal_ofd(sealer, data, placement, level="B-B").document

        def pdf(data: bytes) -> bytes:
            return seal_pdf(sealer, data, placement, level="B-B").document

        def default(data: bytes) -> bytes:
            return bench_seal.pyhanko_default(default_signer, data)

        serial = 0

        def batch(kind: str) -> list[bytes]:
            nonlocal serial
            serial += args.docs
            if kind == "ofd":
                return ofd_documents(serial, args.docs)
            return [bench_seal.document(serial + i) for i in range(args.docs)]

        for function, kind in ((ofd, "ofd"), (pdf, "pdf"), (default, "pdf")):
            rate(function, batch(kind)[:5])  # warm-up
        vs_pdf, vs_default = [], []
        for number in range(1, args.rounds + 1):
            ofd_rate = rate(ofd, batch("ofd"))
            pdf_rate = rate(pdf, batch("pdf"))
            default_rate = rate(default, batch("pdf"))
            vs_pdf.append(ofd_rate / pdf_rate)
            vs_default.append(ofd_rate / default_rate)
            print(f"round {number}: OFD seal (SM2, B-B) {ofd_rate:7.1f} docs/s ({1000 / ofd_rate:5.1f} ms/doc); "
                  f"our PDF seal {pdf_rate:7.1f} docs/s; pyhanko default PDF {default_rate:7.1f} docs/s")
        print(f"median ratio OFD / our PDF sealing: {statistics.median(vs_pdf):.2f}x (target >= 1x); "
              f"OFD / pyhanko default: {statistics.median(vs_default):.2f}x")
        verification(sealer, ofd, pdf, args, batch)


def verification(sealer, ofd, pdf, args, batch) -> None:
    from asn1crypto import pem

    from verify import TrustBundle, verify_pdf
    from verify.ofd import verify_ofd

    roots = b"".join(pem.armor("CERTIFICATE", cert.dump()) for cert in sealer.roots)
    trust = TrustBundle.from_bytes(roots, "bench")
    certs = list(sealer.chain)  # an SES_Signature carries only the signer's certificate: the issuing CA
    ofds = [ofd(data) for data in batch("ofd")]
    pdfs = [pdf(data) for data in batch("pdf")]
    for name, docs, function in (("OFD", ofds, lambda data, trust: verify_ofd(data, trust, certs=certs)),
                                 ("PDF", pdfs, verify_pdf)):
        report = function(docs[0], trust).as_dict()
        if report["indication"] != "TOTAL_PASSED":
            raise SystemExit(f"bench: {name} verification did not pass a genuine document: "
                             f"{[s['sub_indication'] for s in report['signatures']]}")
    ratios = []
    for number in range(1, args.rounds + 1):
        ofd_rate = rate(lambda data: verify_ofd(data, trust, certs=certs), ofds)
        pdf_rate = rate(lambda data: verify_pdf(data, trust), pdfs)
        ratios.append(ofd_rate / pdf_rate)
        print(f"round {number}: verify_ofd {ofd_rate:7.1f} docs/s ({1000 / ofd_rate:5.1f} ms/doc); "
              f"verify_pdf (B-B, same seal) {pdf_rate:7.1f} docs/s ({1000 / pdf_rate:5.1f} ms/doc)")
    print(f"median ratio verify_ofd / verify_pdf: {statistics.median(ratios):.2f}x")


if __name__ == "__main__":
    main()
