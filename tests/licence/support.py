"""A licence library on a storage backend: PKI, the sample types with their stand-in seals."""

from __future__ import annotations

from pathlib import Path

from keys.keystore import Keystore, MasterKey
from keys.pki.authority import Pki
from licence.catalogue import Catalogue
from licence.library import IssueRequest, LicenceLibrary
from licence.samples import provision_samples
from seal.registry import SealRegistry
from tests.keys.pki_support import PKI_URL

FOOD = "11100000MB0A00018B001"
QUALIFICATION = "11100000MB0A000266001"
REGISTRATION = "11100000MB0A000341001"
SHOP_USCC = "91120116MA05K3L296"
PERSON_ID = "11010519491231002X"
REGION = "120000"
FOOD_DATA = {"legal_representative": "张三", "premises": "天津市和平区南京路1号", "business_type": "餐饮服务经营者",
             "business_items": "热食类食品制售"}
QUALIFICATION_DATA = {"sex": "女", "occupation": "电工", "level": "三级/高级工", "assessed_on": "2024-05-01"}


def make_library(storage, tmp_path) -> LicenceLibrary:
    """A library with the sample licence types and their authorities' seals on a PKI (a copy of the one
    the session made: Storage.restore)."""
    def provisioned(snapshot, directory: Path) -> MasterKey:
        master = MasterKey.generate()
        pki = Pki(snapshot.engine, Keystore.open(snapshot.engine, master), PKI_URL, directory / "pki")
        pki.init()
        seals = SealRegistry(snapshot.engine, pki.keystore, pki, region=REGION)
        provision_samples(Catalogue(snapshot.engine, seals.audit_chain), seals)
        return master

    master = storage.restore(("library",), provisioned, tmp_path)
    pki = Pki(storage.engine, Keystore.open(storage.engine, master), PKI_URL, tmp_path / "pki")
    return LicenceLibrary(storage.engine, SealRegistry(storage.engine, pki.keystore, pki, region=REGION),
                          issuer="http://127.0.0.1:9")


def scan_code(pdf: bytes, tmp_path) -> str:
    """The 2D code on a licence's face, read as a phone would: the page rendered by poppler, the code
    decoded by zxing-cpp (an independent reader)."""
    import zxingcpp
    from PIL import Image

    from tests.helpers import require_tool
    from tests.seal.support import render

    path = tmp_path / "face.pdf"
    path.write_bytes(pdf)
    [page] = render(require_tool("pdftoppm"), path, tmp_path / "face", dpi=200)
    [code] = zxingcpp.read_barcodes(Image.open(page))
    assert code.format == zxingcpp.BarcodeFormat.QRCode
    return code.text


def food(holder_name: str = "天津市示例餐饮有限公司", **changes) -> IssueRequest:
    data = {**FOOD_DATA, **changes.pop("data", {})}
    return IssueRequest(FOOD, changes.pop("holder_id", SHOP_USCC), holder_name, data, **changes)


def counted(service: dict, name: str) -> dict:
    """One metric's samples ({labels: value}) on a running service's /metrics (loopback: admitted
    without a token); ``service["base"]`` is its URL."""
    from tests.seal.test_api import call
    from tests.yitong.test_observability import _samples

    status, _, body = call("GET", service["base"] + "/metrics")
    assert status == 200, body
    return _samples(body.decode(), name)
