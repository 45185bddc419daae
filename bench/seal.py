"""Sealing rate: visible SM2 seals (seal/pdf.py) against pyhanko's documented default path.

Both sides seal one-page PDFs with a visible stamp, every iteration a different document (the
page text carries the iteration number), nothing cached between documents except what a
signer legitimately keeps (key, certificates, the seal image's compressed streams):

- ours: ``seal.pdf.seal_pdf`` with an SM2 seal made by the registry (SM2-with-SM3, SM3, the
  DER SESeal in a signed attribute, the seal image as the widget appearance), level B-B;
- pyhanko's default: ``signers.sign_pdf`` with a ``SimpleSigner`` (ECDSA P-256) and a new
  visible field, default stamp style, no ``bytes_reserved`` (so pyhanko sizes the signature
  with a dry run), B-B.

Rounds alternate the two so that both run under the same machine conditions; the ratio is
the median of per-round ratios. Then a 50 MB PDF is sealed once (B-B): time and peak memory.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign import fields, signers

from bench.machine import print_load, verdict

TARGET = 15  # issue 19: sealing >= 15x pyhanko's default sign_pdf path


def document(number: int, padding: int = 0) -> bytes:
    writer = PdfFileWriter()
    font = writer.add_object(generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Font"), pdf_name("/Subtype"): pdf_name("/Type1"),
        pdf_name("/BaseFont"): pdf_name("/Helvetica")}))
    content = f"BT /F1 14 Tf 72 770 Td (Approval document number {number}) Tj ET".encode()
    page = generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Page"),
        pdf_name("/MediaBox"): generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 595, 842)]),
        pdf_name("/Resources"): generic.DictionaryObject({
            pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): font})}),
        pdf_name("/Contents"): writer.add_object(generic.StreamObject(stream_data=content)),
    })
    if padding:
        # An attachment-like stream of incompressible bytes makes a large file.
        blob = writer.add_object(generic.StreamObject(stream_data=os.urandom(padding)))
        page[pdf_name("/PieceInfo")] = generic.DictionaryObject({pdf_name("/YitongBench"): blob})
    writer.insert_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def ours_sealer(home_dir: Path, algorithm: str = "sm2", tsa: bool = False, with_pki: bool = False):
    """A registered seal's :class:`seal.pdf.Sealer` in a fresh home (and, with ``with_pki``, the home's PKI)."""
    from seal.registry import SealRegistry, sealer_for
    from yitong.home import Home
    from yitong.settings import Settings

    settings = Settings.from_env({"YITONG_HOME": str(home_dir), "YITONG_ISSUER": "http://127.0.0.1:9"})
    home = Home(settings)
    home.initialise()
    registry = SealRegistry(home.engine, home.keystore(), home.pki())
    record = registry.create(holder_kind="org", holder_id="91120000MA05K1234X", holder_name="天津市测试科技有限公司",
                             seal_type=4, algorithm=algorithm, actor="bench")
    sealer = sealer_for(registry, record.esid, tsa=tsa)
    return (sealer, home.pki()) if with_pki else sealer


def pyhanko_default_signer(tmp: Path):
    """A P-256 root and leaf made with cryptography; pyhanko's SimpleSigner.load as documented."""
    now = dt.datetime.now(dt.UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = cx509.Name([cx509.NameAttribute(NameOID.COMMON_NAME, "Bench Root")])
    root = (cx509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
            .public_key(root_key.public_key()).serial_number(cx509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(cx509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(root_key, hashes.SHA256()))
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (cx509.CertificateBuilder()
            .subject_name(cx509.Name([cx509.NameAttribute(NameOID.COMMON_NAME, "Bench Signer")]))
            .issuer_name(root_name).public_key(leaf_key.public_key()).serial_number(cx509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=30))
            .sign(root_key, hashes.SHA256()))
    (tmp / "key.pem").write_bytes(leaf_key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    (tmp / "cert.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (tmp / "root.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    return signers.SimpleSigner.load(str(tmp / "key.pem"), str(tmp / "cert.pem"),
                                     ca_chain_files=(str(tmp / "root.pem"),))


def pyhanko_default(signer, data: bytes) -> bytes:
    meta = signers.PdfSignatureMetadata(field_name="Signature1")
    spec = fields.SigFieldSpec(sig_field_name="Signature1", on_page=0, box=(400, 100, 513, 213))
    return signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(data)), meta, signer=signer,
                            new_field_spec=spec).getvalue()


def run_ours(sealer, docs: list[bytes]) -> float:
    from seal.pdf import Placement, seal_pdf

    start = time.perf_counter()
    for data in docs:
        seal_pdf(sealer, data, Placement(page=1, x_mm=160, y_mm=250), level="B-B")
    return len(docs) / (time.perf_counter() - start)


def run_default(signer, docs: list[bytes]) -> float:
    start = time.perf_counter()
    for data in docs:
        pyhanko_default(signer, data)
    return len(docs) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100, help="documents per side per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--large-mb", type=int, default=50, help="size of the large PDF (0 to skip)")
    args = parser.parse_args()
    print_load("bench/seal.py")
    with tempfile.TemporaryDirectory(prefix="yitong-bench-seal-") as tmp_name:
        tmp = Path(tmp_name)
        sealer = ours_sealer(tmp / "home")
        default_signer = pyhanko_default_signer(tmp)
        serial = 0

        def batch() -> list[bytes]:
            nonlocal serial
            docs = [document(serial + i) for i in range(args.docs)]
            serial += args.docs
            return docs

        run_ours(sealer, batch()[:5])  # warm-up: imports, first key use
        run_default(default_signer, batch()[:5])
        ratios = []
        for number in range(1, args.rounds + 1):
            ours_rate = run_ours(sealer, batch())
            default_rate = run_default(default_signer, batch())
            ratios.append(ours_rate / default_rate)
            print(f"round {number}: ours (SM2, visible seal, B-B) {ours_rate:7.1f} docs/s "
                  f"({1000 / ours_rate:5.1f} ms/doc); pyhanko default (P-256 SimpleSigner, visible) "
                  f"{default_rate:7.1f} docs/s ({1000 / default_rate:5.1f} ms/doc); "
                  f"ratio {ours_rate / default_rate:.2f}x")
        print(f"median ratio ours / pyhanko default: {verdict(statistics.median(ratios), TARGET)}")

        if args.large_mb:
            from seal.pdf import Placement, seal_pdf

            large = document(serial, padding=args.large_mb * 1024 * 1024)
            tracemalloc.start()
            start = time.perf_counter()
            result = seal_pdf(sealer, large, Placement(), level="B-B")
            elapsed = time.perf_counter() - start
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"large PDF: {len(large) / 1e6:.1f} MB sealed in {elapsed:.2f} s, peak Python memory "
                  f"{peak / 1e6:.0f} MB ({peak / len(large):.1f}x the file), output {len(result.pdf) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
