"""Our sealed OFDs checked by BouncyCastle (Debian's libbcprov-java): every Reference, dataHash, the
SM2-with-SM3 SES_Signature over TBS_Sign, the SESeal maker signature and the certList.

The checker (tests/seal/java/OfdSealCheck.java) is compiled at test time into a temporary folder and
run once over every document. ofdrw's own sealed corpus file passes it too, and a tampered document
fails it: the checker can fail.
"""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path

import pytest

from ofd.make import Page, Text, make_ofd
from seal.ofd import seal_ofd
from seal.pdf import Placement
from seal.registry import sealer_for
from tests.helpers import CI, require_tool
from tests.ofd.support import corpus_ofd, rezip

BCPROV = Path("/usr/share/java/bcprov.jar")  # Debian's libbcprov-java
SOURCE = Path(__file__).parent / "java" / "OfdSealCheck.java"
SIGN_0, SIGN_1 = "Doc_0/Signs/Sign_0/Signature.xml", "Doc_0/Signs/Sign_1/Signature.xml"


@pytest.fixture(scope="module")
def bouncycastle(seal_home, sm2_seal, tmp_path_factory) -> dict[str, list[str]]:
    """BouncyCastle's lines for each document, by name."""
    javac, java = require_tool("javac"), require_tool("java")
    if not BCPROV.is_file():
        message = f"{BCPROV} is absent: install Debian's libbcprov-java (.ci/run does)"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    sealer = sealer_for(seal_home.registry, sm2_seal.esid)
    hello = corpus_ofd("ofdrw-helloworld-unsigned.ofd")
    pages = make_ofd([Page(210, 297, [Text(20, 20, f"第{n}页")]) for n in (1, 2)])
    one = seal_ofd(sealer, hello, Placement(), level="B-T").document
    two = seal_ofd(sealer, seal_ofd(sealer, pages, Placement(riding=True), level="B-T").document,
                   Placement(page=2), level="B-B").document
    xml = zipfile.ZipFile(io.BytesIO(one)).read(SIGN_0)
    documents = {"one.ofd": one, "two.ofd": two, "ofdrw.ofd": corpus_ofd("ofdrw-SESV4SignDoc.ofd"),
                 "edited.ofd": rezip(one, replace={SIGN_0: xml.replace(b'PageRef="1"', b'PageRef="2"')})}
    folder = tmp_path_factory.mktemp("bc")
    classes = folder / "classes"
    subprocess.run([javac, "-nowarn", "-cp", str(BCPROV), "-d", str(classes), str(SOURCE)], check=True,
                   capture_output=True, timeout=120)
    for name, data in documents.items():
        (folder / name).write_bytes(data)
    done = subprocess.run([java, "-cp", f"{classes}:{BCPROV}", "OfdSealCheck", *documents], cwd=folder,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr  # edited.ofd fails
    lines: dict[str, list[str]] = {name: [] for name in documents}
    for line in done.stdout.splitlines():
        name, rest = line.split(" ", 1)
        lines[name].append(rest)
    return lines


def test_bouncycastle_verifies_a_time_stamped_seal(bouncycastle):
    [line] = bouncycastle["one.ofd"]
    assert line.startswith(f"OK {SIGN_0} ") and "timestamp=true" in line


def test_bouncycastle_verifies_two_seals_one_with_a_riding_seam(bouncycastle):
    first, second = bouncycastle["two.ofd"]
    assert first.startswith(f"OK {SIGN_0} ") and "timestamp=true" in first
    assert second.startswith(f"OK {SIGN_1} ") and "timestamp=false" in second


def test_bouncycastle_agrees_on_ofdrws_file_and_fails_an_edited_signature_xml(bouncycastle):
    assert [line.split()[0] for line in bouncycastle["ofdrw.ofd"]] == ["OK"]
    assert bouncycastle["edited.ofd"] == [f"FAIL {SIGN_0} dataHash"]
