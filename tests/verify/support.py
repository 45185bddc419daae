"""Real sealed PDFs for the verify/ tests: our PKI (SQLite), our keys, pyhanko signing, keys' TSA.

Everything here is built once per test session (see conftest.py) and cached per document.
"""

from __future__ import annotations

import io
import os
import shutil
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp, tsp, x509
from asn1crypto.keys import PublicKeyInfo
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore
from sqlalchemy.engine import make_url

from keys import ses
from keys.cms import KeySigner
from keys.keystore import Keystore, MasterKey
from keys.pki.authority import Pki
from keys.pki.certificates import build_certificate
from keys.pki.profiles import Profile, parse_subject
from tests.helpers import CI
from verify import TrustBundle
from yitong import db

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("YITONG_CORPUS") or REPO.parent / "shared" / "corpus")
PNG_1X1 = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                        "1f15c4890000000d49444154789c63f8cfc0f01f0005000201b5d7d3a50000000049454e44ae426082")


def corpus(*parts: str) -> Path:
    path = CORPUS.joinpath(*parts)
    if not path.exists():
        message = f"interop corpus file {path} is absent (set YITONG_CORPUS to the shared corpus)"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


# -- PDFs to sign ------------------------------------------------------------------------------------
def base_pdf(pages: int = 1, *, text_field: bool = False) -> bytes:
    """A licence-like PDF: uncompressed page content (so tests can flip bytes in it)."""
    writer = PdfFileWriter()
    font = writer.add_object(generic.DictionaryObject({
        generic.NameObject("/Type"): generic.NameObject("/Font"),
        generic.NameObject("/Subtype"): generic.NameObject("/Type1"),
        generic.NameObject("/BaseFont"): generic.NameObject("/Helvetica"),
    }))
    for index in range(pages):
        content = writer.add_object(generic.StreamObject(
            stream_data=f"BT /F1 24 Tf 72 720 Td (Business licence page {index + 1}) Tj ET\n"
                        f"BT /F1 14 Tf 72 680 Td (Holder: Tianjin Example Co. Ltd.) Tj ET\n".encode()))
        page = generic.DictionaryObject({
            generic.NameObject("/Type"): generic.NameObject("/Page"),
            generic.NameObject("/MediaBox"): generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 595, 842)]),
            generic.NameObject("/Resources"): generic.DictionaryObject({
                generic.NameObject("/Font"): generic.DictionaryObject({generic.NameObject("/F1"): font})}),
            generic.NameObject("/Contents"): content,
        })
        writer.insert_page(page)
    if text_field:
        _add_text_field(writer, "Holder", "Tianjin Example Co. Ltd.")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _appearance(writer, value: str):
    return writer.add_object(generic.StreamObject(
        {generic.NameObject("/Type"): generic.NameObject("/XObject"),
         generic.NameObject("/Subtype"): generic.NameObject("/Form"),
         generic.NameObject("/BBox"): generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 300, 30)])},
        stream_data=f"BT /Helv 14 Tf 2 8 Td ({value}) Tj ET".encode()))


def _add_text_field(writer, name: str, value: str) -> None:
    page_ref = writer.find_page_for_modification(0)[0]
    page = page_ref.get_object()
    field = writer.add_object(generic.DictionaryObject({
        generic.NameObject("/Type"): generic.NameObject("/Annot"),
        generic.NameObject("/Subtype"): generic.NameObject("/Widget"),
        generic.NameObject("/FT"): generic.NameObject("/Tx"),
        generic.NameObject("/T"): generic.TextStringObject(name),
        generic.NameObject("/V"): generic.TextStringObject(value),
        generic.NameObject("/Rect"): generic.ArrayObject([generic.NumberObject(n) for n in (72, 600, 372, 630)]),
        generic.NameObject("/P"): page_ref,
        generic.NameObject("/AP"): generic.DictionaryObject({generic.NameObject("/N"): _appearance(writer, value)}),
    }))
    page[generic.NameObject("/Annots")] = generic.ArrayObject([field])
    writer.root[generic.NameObject("/AcroForm")] = generic.DictionaryObject({
        generic.NameObject("/Fields"): generic.ArrayObject([field])})
    writer.update_container(writer.root)


def draw_on_pages(writer, pages: int, *, seam: bool) -> None:
    """Stamps drawn into page content in the revision the seal covers (riding-seam slices when ``seam``)."""
    for index in range(pages):
        page_ref = writer.find_page_for_modification(index)[0]
        page = page_ref.get_object()
        if seam:  # one slice of the round seal on each page's right edge
            width = 120 / pages
            ops = f"q 0.8 0 0 RG 3 w 595 300 m {595 - width:.2f} 300 l {595 - width:.2f} 420 l 595 420 l S Q"
        else:
            ops = "q 0.8 0 0 RG 3 w 400 500 m 520 500 l 520 620 l 400 620 l h S Q"
        stream = writer.add_object(generic.StreamObject(stream_data=ops.encode()))
        current = page.raw_get("/Contents")
        resolved = current.get_object()
        items = list(resolved) if isinstance(resolved, generic.ArrayObject) else [current]
        page[generic.NameObject("/Contents")] = generic.ArrayObject([*items, stream])
        writer.update_container(page)


class LocalTimeStamper(TimeStamper):
    """pyhanko TimeStamper that asks keys' TSA directly (bytes in, bytes out; no HTTP)."""

    def __init__(self, authority) -> None:
        super().__init__(include_nonce=True)
        self._authority = authority

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return tsp.TimeStampResp.load(self._authority.respond(req.dump()))


class OtherUserId:
    """An SM2 key that signs with a user ID other than the standard 1234567812345678."""

    algorithm = "sm2"

    def __init__(self, key) -> None:
        self._key = key

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data, uid=b"another-user-id")


class Identity:
    def __init__(self, key, certificate: x509.Certificate, chain: list[x509.Certificate], ca: str,
                 seal: bytes | None = None) -> None:
        self.key, self.certificate, self.chain, self.ca, self.seal = key, certificate, chain, ca, seal

    @property
    def serial(self) -> str:
        return format(self.certificate.serial_number, "X")


def sign(data: bytes, who: Identity, *, field: str = "Seal1", box=(400, 80, 520, 200), page: int = 0,
         stamper: TimeStamper | None = None, pades: bool = False, key=None) -> bytes:
    """``data`` sealed by ``who`` with pyhanko (visible widget at ``box`` unless None)."""
    signer = KeySigner(key or who.key, who.certificate, who.chain, seseal=who.seal)
    meta = signers.PdfSignatureMetadata(
        field_name=field, md_algorithm=signer.digest_algorithm,
        subfilter=SigSeedSubFilter.PADES if pades else SigSeedSubFilter.ADOBE_PKCS7_DETACHED)
    spec = fields.SigFieldSpec(field, on_page=page, box=box) if box is not None else None
    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    return signers.sign_pdf(writer, meta, signer=signer, timestamper=stamper, new_field_spec=spec).getvalue()


# -- the world: one PKI for the session ---------------------------------------------------------------
class World:
    def __init__(self, tmp: Path, sqlite_template: Path) -> None:
        path = tmp / "verify.db"
        shutil.copyfile(sqlite_template, path)
        self.engine = db.make_engine(make_url(f"sqlite:///{path}"))
        self.keystore = Keystore.open(self.engine, MasterKey.generate())
        self.pki = Pki(self.engine, self.keystore, "http://127.0.0.1:9/pki", tmp / "pki")
        self.pki.init()
        self.tmp = tmp
        self._owners = 0
        self.trust = TrustBundle.from_bytes(self.pki.trust_bundle(), "test trust bundle")
        self._docs: dict[str, bytes] = {}

    # identities
    def _owner(self) -> str:
        self._owners += 1
        return f"verify-test-{self._owners}"

    def identity(self, algorithm: str, subject: str = "CN=天津示例有限公司电子公章,O=天津示例有限公司,C=CN,"
                                                       "serialNumber=91120000MA05JX3B3T", *, seal: bool = False,
                 profile: str = "seal") -> Identity:
        record = self.keystore.generate("seal", algorithm, owner=self._owner())
        issued = self.pki.issue(profile, kid=record.kid, subject=subject)
        ca = issued.ca
        identity = Identity(self.keystore.private_key(record.kid), issued.certificate,
                            [self.pki.ca_certificate(ca)], ca)
        if seal:
            identity.seal = self.make_seal(issued.certificate)
        return identity

    def custom_identity(self, algorithm: str, *, key_usage=("digital_signature", "non_repudiation"),
                        not_before: datetime | None = None, not_after: datetime | None = None) -> Identity:
        """A certificate the CA signs outside the profiles (expired, wrong key usage)."""
        from keys.asymmetric import generate_private_key

        key = generate_private_key(algorithm)
        ca = f"{'sm2' if algorithm == 'sm2' else 'p256'}-issuing"
        issuer = self.pki.issuer(ca)
        spki = PublicKeyInfo.load(key.public_key().public_bytes_der())
        now = datetime.now(UTC)
        certificate = build_certificate(
            subject=parse_subject("CN=Custom Seal,O=Custom Org,C=CN"), public_key_info=spki, issuer=issuer,
            profile=Profile("custom", frozenset(key_usage)),
            not_before=not_before or now - timedelta(days=1), not_after=not_after or now + timedelta(days=30))
        return Identity(key, certificate, [self.pki.ca_certificate(ca)], ca)

    @cached_property
    def maker(self) -> Identity:
        return self.identity("sm2", "CN=Yitong Seal Maker,O=Yitong Test,C=CN", profile="seal-maker")

    def make_seal(self, holder: x509.Certificate, *, valid_end: datetime | None = None) -> bytes:
        start = datetime.now(UTC) - timedelta(days=1)
        return ses.make_seal(es_id="12010020261128000001", seal_type=6, name="天津示例有限公司公章",
                             certs=[holder.dump()], picture_type="png", picture=PNG_1X1, width_mm=40, height_mm=40,
                             valid_start=start, valid_end=valid_end or start + timedelta(days=365),
                             maker_key=self.maker.key, maker_cert=self.maker.certificate.dump())

    @cached_property
    def sm2(self) -> Identity:
        return self.identity("sm2", seal=True)

    @cached_property
    def p256(self) -> Identity:
        return self.identity("p256")

    # signing
    def sign(self, data: bytes, who: Identity, *, timestamp: bool = False, **options) -> bytes:
        stamper = LocalTimeStamper(self.pki.time_stamp_authority("sm2" if who.ca.startswith("sm2") else "p256")) \
            if timestamp else None
        return sign(data, who, stamper=stamper, **options)

    def add_dss(self, data: bytes, *, crls=(), ocsps=(), certs=()) -> bytes:
        out = io.BytesIO(data)
        DocumentSecurityStore.add_dss(out, sig_contents=None, certs=list(certs),
                                      crls=[asn1_crl.CertificateList.load(c) for c in crls],
                                      ocsps=[ocsp.OCSPResponse.load(o) for o in ocsps], force_write=True)
        return out.getvalue()

    def ocsp_response(self, who: Identity) -> bytes:
        issuer = self.pki.ca_certificate(who.ca)
        cert_id = ocsp.CertId({"hash_algorithm": {"algorithm": "sha1"},
                               "issuer_name_hash": issuer.subject.sha1, "issuer_key_hash": issuer.public_key.sha1,
                               "serial_number": who.certificate.serial_number})
        request = ocsp.OCSPRequest({"tbs_request": {"request_list": [{"req_cert": cert_id}]}}).dump()
        return self.pki.ocsp_responder().respond(request)

    def crls(self, who: Identity) -> list[bytes]:
        root = "sm2-root" if who.ca.startswith("sm2") else "p256-root"
        return [self.pki.crl(who.ca), self.pki.crl(root)]

    # cached documents
    def doc(self, name: str, build) -> bytes:
        if name not in self._docs:
            self._docs[name] = build()
        return self._docs[name]


__all__ = ["CORPUS", "World", "base_pdf", "corpus", "draw_on_pages", "sign"]
