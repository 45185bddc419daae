"""verify_pdf against pyhanko's validate_pdf_signature on P-256 sealed one-page PDFs, in the same run.

Every iteration verifies a different document (N distinct sealed PDFs, made first); the trust
material (our roots) is loaded once; nothing is cached between documents (each iteration builds
its own reader and validation context, as a verifier handling uploads does). Rounds alternate
between the two so that this machine's speed drift hits both alike; the median ratio is reported:
ratio = pyhanko's time per document / ours (issue 19's target: ≥ 1.5, with every check still run).
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

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from bench.machine import print_load, verdict
from keys.cms import KeySigner
from keys.pki.signing import YitongSignatureValidator
from verify import TOTAL_PASSED, TrustBundle, verify_pdf
from yitong.home import Home
from yitong.settings import Settings

TARGET = 1.5  # issue 19: verify_pdf >= 1.5x pyhanko's validate_pdf_signature


def one_page(index: int) -> bytes:
    writer = PdfFileWriter()
    content = writer.add_object(generic.StreamObject(
        stream_data=f"BT /F1 18 Tf 72 720 Td (Licence No. {index:08d}) Tj ET".encode()))
    writer.insert_page(generic.DictionaryObject({
        generic.NameObject("/Type"): generic.NameObject("/Page"),
        generic.NameObject("/MediaBox"): generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 595, 842)]),
        generic.NameObject("/Contents"): content,
    }))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_documents(count: int) -> tuple[list[bytes], bytes]:
    home = Home(Settings.from_env({"YITONG_HOME": tempfile.mkdtemp(prefix="yitong-bench-verify-")}))
    home.initialise()
    pki = home.pki()
    record = pki.keystore.generate("seal", "p256", owner="bench-verify")
    issued = pki.issue("seal", kid=record.kid, subject="CN=Bench Seal,O=Bench Org,C=CN,serialNumber=91120000MA05JX3B3T")
    signer = KeySigner(pki.keystore.private_key(record.kid), issued.certificate, [pki.ca_certificate(issued.ca)])
    documents = []
    for index in range(count):
        meta = signers.PdfSignatureMetadata(field_name="Seal1", md_algorithm="sha256")
        spec = fields.SigFieldSpec("Seal1", on_page=0, box=(400, 80, 520, 200))
        out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(one_page(index))), meta, signer=signer,
                               new_field_spec=spec)
        documents.append(out.getvalue())
    return documents, pki.trust_bundle()


def time_ours(documents: list[bytes], trust: TrustBundle) -> float:
    start = time.perf_counter()
    for data in documents:
        report = verify_pdf(data, trust)
        if report.indication[0] != TOTAL_PASSED:
            raise SystemExit(f"bench: verify_pdf did not pass a genuine document: {report.as_dict()}")
    return (time.perf_counter() - start) / len(documents)


def time_pyhanko(documents: list[bytes], roots, validator) -> float:
    start = time.perf_counter()
    for data in documents:
        embedded = PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures[0]
        context = ValidationContext(trust_roots=roots, allow_fetching=False, signature_validator=validator)
        status = validate_pdf_signature(embedded, context)
        if not (status.intact and status.valid and status.trusted):
            raise SystemExit("bench: pyhanko did not pass a genuine document")
    return (time.perf_counter() - start) / len(documents)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=200, help="distinct sealed PDFs [200]")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds [5]")
    args = parser.parse_args()
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    print_load("bench/verify.py")
    documents, bundle = make_documents(args.documents)
    trust = TrustBundle.from_bytes(bundle, "bench")  # loaded once
    roots = list(trust.certificates)
    validator = YitongSignatureValidator()
    time_ours(documents[:10], trust)  # warm-up (imports, caches of the Python runtime)
    time_pyhanko(documents[:10], roots, validator)
    ratios, ours_ms, theirs_ms = [], [], []
    for _ in range(args.rounds):
        ours = time_ours(documents, trust)
        theirs = time_pyhanko(documents, roots, validator)
        ours_ms.append(ours * 1000)
        theirs_ms.append(theirs * 1000)
        ratios.append(theirs / ours)
    print(f"verify_pdf:             {statistics.median(ours_ms):6.2f} ms/document (median of {args.rounds} rounds "
          f"over {len(documents)} distinct P-256 sealed 1-page PDFs)")
    print(f"pyhanko validate_pdf:   {statistics.median(theirs_ms):6.2f} ms/document")
    print(f"ratio pyhanko/ours:     {verdict(statistics.median(ratios), TARGET)}; rounds: "
          f"{', '.join(f'{r:.2f}' for r in ratios)}")


if __name__ == "__main__":
    main()
