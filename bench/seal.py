"""Sealing rate: visible SM2 seals (seal/pdf.py) against pyhanko's documented default path.

Both sides seal the same kinds of documents with a visible stamp, every iteration a different
document (the page text carries the iteration number), nothing cached between documents except
what a signer legitimately keeps (key, certificates, the seal image's compressed streams, and for
B-LT the seal's current CRLs and OCSP response while they stay current, see seal/sealing.py):

- ours: ``seal.pdf.seal_pdf`` with an SM2 seal made by the registry (SM2-with-SM3, SM3, the
  DER SESeal in a signed attribute, the seal image as the widget appearance), the SM3 of the
  document before and after (what every caller records);
- pyhanko's default: ``signers.sign_pdf`` with a ``SimpleSigner`` (ECDSA P-256) and a new
  visible field, default stamp style, no ``bytes_reserved`` (so pyhanko sizes the signature
  with a dry run); for B-LT its PAdES path with a time-stamper (the same in-process P-256 TSA)
  and ``embed_validation_info`` (soft-fail, no fetching).

Cases: one-page documents and five-page documents with a photo on every page (about 1.4 MB),
each at B-B and at B-LT. Rounds alternate the two so that both run under the same machine
conditions; each ratio is the median of per-round ratios, by wall-clock time and by this
process's CPU time (which other work on a shared machine does not inflate). Then a large PDF is sealed once
(B-B): time and peak memory.
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


_PHOTOS: dict[int, bytes] = {}


def _photo(writer: PdfFileWriter, index: int):
    """A 400x300 RGB photo-like image XObject (Flate, about 150 KB): colour bands plus noise; page
    ``index`` of every document shows the same photo (a form's letterhead, a scanned annex)."""
    import random
    import zlib

    width, height = 400, 300
    if index not in _PHOTOS:
        rng = random.Random(index)
        noise = rng.randbytes(width * height * 3)
        pixels = bytes((((i // (width * 3)) * 255 // height) + (index * 53) + (b & 0x3F)) & 0xFF
                       for i, b in enumerate(noise))
        _PHOTOS[index] = zlib.compress(pixels, 6)
    stream = generic.StreamObject({
        pdf_name("/Type"): pdf_name("/XObject"), pdf_name("/Subtype"): pdf_name("/Image"),
        pdf_name("/Width"): generic.NumberObject(width), pdf_name("/Height"): generic.NumberObject(height),
        pdf_name("/ColorSpace"): pdf_name("/DeviceRGB"), pdf_name("/BitsPerComponent"): generic.NumberObject(8),
        pdf_name("/Filter"): pdf_name("/FlateDecode"),
    }, encoded_data=_PHOTOS[index])
    return writer.add_object(stream)


def document(number: int, padding: int = 0, pages: int = 1, images: bool = False) -> bytes:
    """A PDF whose first page names ``number``; ``pages`` pages, each with a photo when ``images``."""
    writer = PdfFileWriter()
    font = writer.add_object(generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Font"), pdf_name("/Subtype"): pdf_name("/Type1"),
        pdf_name("/BaseFont"): pdf_name("/Helvetica")}))
    for index in range(pages):
        text = f"BT /F1 14 Tf 72 770 Td (Approval document number {number}, page {index + 1}) Tj ET"
        resources = generic.DictionaryObject({pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): font})})
        if images:
            photo = _photo(writer, index)
            resources[pdf_name("/XObject")] = generic.DictionaryObject({pdf_name("/Im1"): photo})
            text += " q 450 0 0 300 72 400 cm /Im1 Do Q"
        page = generic.DictionaryObject({
            pdf_name("/Type"): pdf_name("/Page"),
            pdf_name("/MediaBox"): generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 595, 842)]),
            pdf_name("/Resources"): resources,
            pdf_name("/Contents"): writer.add_object(generic.StreamObject(stream_data=text.encode())),
        })
        if padding and index == 0:
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
            .add_extension(cx509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                          crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(root_key, hashes.SHA256()))
    (tmp / "key.pem").write_bytes(leaf_key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    (tmp / "cert.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (tmp / "root.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    return signers.SimpleSigner.load(str(tmp / "key.pem"), str(tmp / "cert.pem"),
                                     ca_chain_files=(str(tmp / "root.pem"),))


def pyhanko_default(signer, data: bytes, level: str = "B-B", lt=None) -> bytes:
    """pyhanko's documented path; B-LT adds its timestamper and ``embed_validation_info`` (``lt``:
    (timestamper, validation context))."""
    spec = fields.SigFieldSpec(sig_field_name="Signature1", on_page=0, box=(400, 100, 513, 213))
    if level == "B-B":
        meta = signers.PdfSignatureMetadata(field_name="Signature1")
        return signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(data)), meta, signer=signer,
                                new_field_spec=spec).getvalue()
    timestamper, context = lt
    meta = signers.PdfSignatureMetadata(field_name="Signature1", subfilter=fields.SigSeedSubFilter.PADES,
                                        embed_validation_info=True, validation_context=context)
    return signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(data)), meta, signer=signer, timestamper=timestamper,
                            new_field_spec=spec).getvalue()


def run_ours(sealer, docs: list[bytes], level: str) -> tuple[float, float]:
    from seal.pdf import Placement, seal_pdf

    start, cpu = time.perf_counter(), time.process_time()
    for data in docs:
        seal_pdf(sealer, data, Placement(page=1, x_mm=160, y_mm=250), level=level)
    return len(docs) / (time.perf_counter() - start), len(docs) / (time.process_time() - cpu)


def run_default(signer, docs: list[bytes], level: str, lt) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    for data in docs:
        pyhanko_default(signer, data, level, lt)
    return len(docs) / (time.perf_counter() - start), len(docs) / (time.process_time() - cpu)


CASES = (("one page", 1, False), ("5 pages, a photo on each", 5, True))
if os.environ.get("BENCH_SEAL_CASE"):
    CASES = CASES[int(os.environ["BENCH_SEAL_CASE"]):][:1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20, help="documents per side per round [20]")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--large-mb", type=int, default=50, help="size of the large PDF (0 to skip)")
    args = parser.parse_args()
    print_load("bench/seal.py")
    with tempfile.TemporaryDirectory(prefix="yitong-bench-seal-") as tmp_name:
        tmp = Path(tmp_name)
        sealer, pki = ours_sealer(tmp / "home", tsa=True, with_pki=True)
        default_signer = pyhanko_default_signer(tmp)
        from pyhanko_certvalidator import ValidationContext

        from seal.pdf import InProcessTimeStamper

        lt = (InProcessTimeStamper(pki.time_stamp_authority("p256")),
              ValidationContext(trust_roots=[*(c for c in default_signer.cert_registry if c.ca), *pki.roots()],
                                allow_fetching=False,
                                revocation_mode="soft-fail"))
        serial = 0

        def batch(pages: int, images: bool) -> list[bytes]:
            nonlocal serial
            docs = [document(serial + i, pages=pages, images=images) for i in range(args.docs)]
            serial += args.docs
            return docs

        for label, pages, images in CASES:
            for level in ("B-B", "B-LT"):
                run_ours(sealer, batch(pages, images)[:3], level)  # warm-up: imports, first key use
                run_default(default_signer, batch(pages, images)[:3], level, lt)
                ratios, cpu_ratios = [], []
                for _ in range(args.rounds):
                    ours_rate, ours_cpu = run_ours(sealer, batch(pages, images), level)
                    default_rate, default_cpu = run_default(default_signer, batch(pages, images), level, lt)
                    ratios.append(ours_rate / default_rate)
                    cpu_ratios.append(ours_cpu / default_cpu)
                    print(f"  {label}, {level}: ours (SM2, visible seal) {1000 / ours_rate:6.1f} ms/doc "
                          f"({1000 / ours_cpu:5.1f} ms CPU); pyhanko default (P-256, visible) "
                          f"{1000 / default_rate:6.1f} ms/doc ({1000 / default_cpu:5.1f} ms CPU); "
                          f"ratio {ours_rate / default_rate:.2f}x, by CPU {ours_cpu / default_cpu:.2f}x", flush=True)
                print(f"{label}, {level}: median ratio ours / pyhanko default: "
                      f"{verdict(statistics.median(ratios), TARGET)}; by CPU time: "
                      f"{verdict(statistics.median(cpu_ratios), TARGET)}", flush=True)

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
