"""Shared helpers for seal tests: a set-up home, validation against the exported trust bundle."""

from __future__ import annotations

import io
import subprocess
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import pem, x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore, NoDSSFoundError
from pyhanko_certvalidator import ValidationContext

from keys.pki.signing import YitongSignatureValidator
from seal.registry import SealRegistry
from yitong.home import Home
from yitong.settings import Settings

ORG_USCC = "91120000MA05K1234X"
ORG_NAME = "天津市测试科技有限公司"


@dataclass
class SealHome:
    home: Home
    registry: SealRegistry
    root: Path

    @property
    def trust_pem(self) -> Path:
        return self.root / "pki" / "trust.pem"


def open_seal_home(root: Path, extra_env: dict[str, str] | None = None) -> SealHome:
    # The issuer (and so the CRL/OCSP URLs in certificates) is a closed port: nothing is fetched.
    env = {"YITONG_HOME": str(root), "YITONG_ISSUER": "http://127.0.0.1:9", **(extra_env or {})}
    settings = Settings.from_env(env)
    home = Home(settings)
    home.initialise()
    registry = SealRegistry(home.engine, home.keystore(), home.pki(), region=settings.seal_region)
    return SealHome(home, registry, root)


def trust_roots(path: Path) -> list[x509.Certificate]:
    """The roots from the exported trust bundle (what a relying party has)."""
    return [x509.Certificate.load(der) for _, _, der in pem.unarmor(path.read_bytes(), multiple=True)]


def validate_all(pdf: bytes, trust: Path, *, hard_fail: bool, strict: bool = True):
    """pyhanko's validate_pdf_signature for every signature, offline against ``trust``.

    With ``hard_fail`` the only revocation data is what the document's DSS carries (B-LT).
    """
    reader = PdfFileReader(io.BytesIO(pdf), strict=strict)  # pyhanko validates hybrid-xref files non-strict only
    kwargs = {"trust_roots": trust_roots(trust), "allow_fetching": False,
              "revocation_mode": "hard-fail" if hard_fail else "soft-fail",
              "signature_validator": YitongSignatureValidator()}
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        dss = None

    def context():
        if dss is not None:
            return dss.as_validation_context(kwargs)
        return ValidationContext(**kwargs, crls=[], ocsps=[]) if hard_fail else ValidationContext(**kwargs)

    return [validate_pdf_signature(embedded, context(), ts_validation_context=context())
            for embedded in reader.embedded_signatures]


def red_fraction(png_path: Path, box: tuple[int, int, int, int]) -> float:
    """Share of clearly red pixels in ``box`` (left, top, right, bottom) of a rendered page."""
    from PIL import Image

    image = Image.open(png_path).convert("RGB").crop(box)
    pixels = list(image.get_flattened_data()) if hasattr(image, "get_flattened_data") else list(image.getdata())
    red = sum(1 for r, g, b in pixels if r > 180 and g < 110 and b < 110)
    return red / max(1, len(pixels))


def render(pdftoppm: str, pdf: Path, out_prefix: Path, dpi: int = 36) -> list[Path]:
    subprocess.run([pdftoppm, "-r", str(dpi), "-png", str(pdf), str(out_prefix)], check=True, timeout=60)
    return sorted(out_prefix.parent.glob(out_prefix.name + "-*.png"))
