"""ofd.package: the corpus files open and resolve as their producers meant; hostile zips and XML are refused."""

from __future__ import annotations

import io
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keys.digests import digest
from ofd import OfdError, OfdLimitError, OfdLimits, OfdPackage
from ofd.package import parse_datetime, parse_xml
from tests.ofd.support import OFD_FILES, build, corpus, corpus_ofd, entries, rezip

# (file, [(Signature.xml entry, Type, references matching the SM3 of their file, references)])
EXPECTED = {
    "anzhengtong-v4-two-seals.ofd": [("Doc_0/Signs/Sign_0/Signature.xml", "Seal", 15, 15),
                                     ("Doc_0/Signs/Sign_1/Signature.xml", "Seal", 15, 15)],
    "invoice-example-v4.ofd": [("Doc_0/Signs/Sign_0/Signature.xml", "Seal", 12, 13)],
    "ofdrw-1-v4.ofd": [("Doc_0/Signs/Sign_0/Signature.xml", "Seal", 13, 13)],
    "ofdrw-DigitalSign-raw-sm2.ofd": [("Doc_0/Signs/Sign_0/Signature.xml", "Sign", 4, 4)],
    "ofdrw-SESV4SignDoc.ofd": [("Doc_0/Signs/Sign_0/Signature.xml", "Seal", 5, 5)],
    "ofdrw-helloworld-unsigned.ofd": [],
    "ofdrw-keyword-pkcs7-and-v4.ofd": [("Doc_0/Signs/Sign_1/Signature.xml", "Seal", 4, 7),
                                       ("Doc_0/Signs/Sign_3/Signature.xml", "Sign", 6, 9)],
    "ofdrw-keyword2-v4.ofd": [("Doc_0/Signs/Sign_0/Signature.xml", "Seal", 13, 13)],
    "ofdrw-n-v1.ofd": [("Doc_0/Signs/Sign_0/Signature.xml", "Seal", 0, 6)],  # CheckMethod ...401.2: not plain SM3
    "ofdrw-v4signed.ofd": [("Doc_0/Signs/Sign_0/Signature.xml", "Seal", 13, 13)],
}


def test_every_corpus_ofd_is_listed():
    assert sorted(p.name for p in corpus("ofd").glob("*.ofd")) == sorted(OFD_FILES) == sorted(EXPECTED)


@pytest.mark.parametrize("name", OFD_FILES)
def test_corpus_packages_resolve_every_signature_and_reference(name):
    package = OfdPackage.open(corpus_ofd(name))
    document = package.document()
    assert document.root == "Doc_0/Document.xml" and document.pages
    for page in document.pages:
        assert page.content in package and page.box is not None
    found = []
    for signature in package.signatures():
        assert signature.raw == package.read(signature.path)
        assert signature.signed_value in package
        matching = sum(1 for ref in signature.references
                       if ref.path in package and ref.check_value == digest("sm3", package.read(ref.path)))
        assert all(ref.path in package for ref in signature.references)
        found.append((signature.path, signature.type, matching, len(signature.references)))
    assert found == EXPECTED[name]


def test_non_standard_paths_of_the_corpus_resolve():
    # Document.xml writes TPLS/Tpl_0 for the entry Doc_0/Tpls/Tpl_0: another letter case
    package = OfdPackage.open(corpus_ofd("ofdrw-v4signed.ofd"))
    assert package.document().pages[0].templates == ("Doc_0/Tpls/Tpl_0/Content.xml",)
    # Seal.esl written relative to Signature.xml (the standard); Signatures.xml outside Signs/ (iOFD)
    two = OfdPackage.open(corpus_ofd("anzhengtong-v4-two-seals.ofd")).signatures()
    assert [s.seal for s in two] == ["Doc_0/Signs/Sign_0/Seal.esl", "Doc_0/Signs/Sign_1/Seal.esl"]
    v1 = OfdPackage.open(corpus_ofd("ofdrw-n-v1.ofd"))
    assert v1.document().signatures == "Doc_0/Signatures.xml"
    assert v1.signatures()[0].provider.company == "dms360.cn"  # Provider as child elements
    # the namespace without /2016
    pkcs7 = OfdPackage.open(corpus_ofd("ofdrw-keyword-pkcs7-and-v4.ofd"))
    assert pkcs7.document().pages[0].box == (0.0, 0.0, 283.0, 196.0)
    assert "Doc_0/Annotations.xml" in pkcs7.document().missing


def test_resolve_absolute_relative_and_fallbacks():
    package = OfdPackage.open(corpus_ofd("ofdrw-1-v4.ofd"))
    base = "Doc_0/Signs/Sign_0/Signature.xml"
    assert package.resolve(base, "/Doc_0/Document.xml") == "Doc_0/Document.xml"
    assert package.resolve(base, "../../Document.xml") == "Doc_0/Document.xml"
    assert package.resolve(base, "SignedValue.dat") == "Doc_0/Signs/Sign_0/SignedValue.dat"
    assert package.resolve(base, "Pages/Page_0/Content.xml") == "Doc_0/Pages/Page_0/Content.xml"  # from DocRoot
    assert package.resolve(base, "/doc_0/document.XML") == "Doc_0/Document.xml"  # letter case
    assert package.find(base, "Nothing.xml") is None
    assert package.resolve(base, "Nothing.xml") == "Doc_0/Signs/Sign_0/Nothing.xml"
    for bad in ("../../../../etc/passwd", "/../OFD.xml", "C:/x.xml", "file:///etc/passwd", ""):
        with pytest.raises(OfdError):
            package.resolve(base, bad)


def test_entries_keep_their_exact_bytes():
    data = corpus_ofd("anzhengtong-v4-two-seals.ofd")
    package = OfdPackage.open(data)
    original = dict((n, c) for n, c in entries(data) if not n.endswith("/"))
    assert package.names() == list(original)
    assert all(package.read(n) == c for n, c in original.items())


@pytest.mark.parametrize("name", ["/OFD.xml", "../OFD.xml", "Doc_0/../../x", "Doc_0\\..\\x", "C:/OFD.xml",
                                  "Doc_0//x.xml", "Doc_0/./x.xml", "a\x00b"])
def test_traversal_and_odd_names_are_refused(name):
    good = entries(corpus_ofd("ofdrw-helloworld-unsigned.ofd"))
    placeholder = name.replace("\x00", "\x01")  # zipfile cuts names at NUL when writing: patch the bytes after
    data = build([*good, (placeholder, b"x")]).replace(placeholder.encode(), name.encode())
    with pytest.raises(OfdError, match="entry name"):
        OfdPackage.open(data)


@pytest.mark.parametrize("twin", ["Doc_0/Document.xml", "doc_0/DOCUMENT.xml"])
def test_duplicate_entries_are_refused(twin):
    good = entries(corpus_ofd("ofdrw-helloworld-unsigned.ofd"))
    with pytest.warns(UserWarning) if twin == "Doc_0/Document.xml" else _nothing():
        data = build([*good, (twin, b"<x/>")])
    with pytest.raises(OfdError, match="two entries"):
        OfdPackage.open(data)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_symlinks_are_refused():
    good = entries(corpus_ofd("ofdrw-helloworld-unsigned.ofd"))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in good:
            archive.writestr(name, content)
        link = zipfile.ZipInfo("Doc_0/Res/link")
        link.create_system = 3
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(OfdError, match="symbolic link"):
        OfdPackage.open(out.getvalue())


def test_zip_bomb_and_size_limits():
    good = entries(corpus_ofd("ofdrw-helloworld-unsigned.ofd"))
    bomb = build([*good, ("Doc_0/Res/bomb.xml", b"\0" * (50 * 1024 * 1024))])
    assert len(bomb) < 100_000
    with pytest.raises(OfdLimitError, match=r"inflates more than|limit"):
        OfdPackage.open(bomb)
    # headers that lie about the size are caught while inflating (the ratio), not trusted
    with pytest.raises(OfdLimitError):
        OfdPackage.open(build([*good, ("Doc_0/x", b"\0" * (3 * 1024 * 1024))]), limits=OfdLimits(max_ratio=10))
    with pytest.raises(OfdLimitError, match="entries"):
        OfdPackage.open(build(good + [(f"Doc_0/Res/{i}.png", b"x") for i in range(30)]),
                        limits=OfdLimits(max_entries=20))
    with pytest.raises(OfdLimitError, match="bytes"):
        OfdPackage.open(corpus_ofd("anzhengtong-v4-two-seals.ofd"), limits=OfdLimits(max_bytes=10_000))
    with pytest.raises(OfdLimitError):
        OfdPackage.open(corpus_ofd("anzhengtong-v4-two-seals.ofd"), limits=OfdLimits(max_total_bytes=100_000))


def test_a_hundred_megabytes_of_pages_is_refused_by_the_default_limits():
    good = entries(corpus_ofd("ofdrw-helloworld-unsigned.ofd"))
    page = b"<ofd:Page xmlns:ofd='http://www.ofdspec.org/2016'>" + b"<ofd:Content/>" * 70_000 + b"</ofd:Page>"
    pages = [(f"Doc_0/Pages/Page_{i}/Content.xml", page) for i in range(1, 105)]  # ~100 MB inflated
    with pytest.raises(OfdLimitError):
        OfdPackage.open(build(good + pages))


@pytest.mark.parametrize("data", [b"", b"%PDF-1.7\n", b"PK\x03\x04", b"PK\x03\x04" + b"\0" * 100, b"\x89PNG\r\n"])
def test_non_zip_and_truncated_bytes_are_one_clear_error(data):
    with pytest.raises(OfdError):
        OfdPackage.open(data)


def test_truncated_corpus_files_are_one_clear_error():
    data = corpus_ofd("ofdrw-1-v4.ofd")
    for cut in (len(data) // 3, len(data) - 30, len(data) - 1):
        with pytest.raises(OfdError):
            OfdPackage.open(data[:cut])


def test_crc_mismatch_is_refused():
    data = bytearray(build([("OFD.xml", b"<ofd:OFD xmlns:ofd='x'/>" * 10)], compression=zipfile.ZIP_STORED))
    at = data.index(b"<ofd:OFD")
    data[at + 3] ^= 1
    with pytest.raises(OfdError, match="cannot be read"):
        OfdPackage.open(bytes(data))


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<ofd:OFD xmlns:ofd="x">&lol3;</ofd:OFD>"""
EXTERNAL = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"""
DTD_ONLY = b"""<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://example.invalid/r.dtd"><r/>"""


DEEP = b"<a>" * 300 + b"</a>" * 300


@pytest.mark.parametrize("xml", [BILLION_LAUGHS, EXTERNAL, DTD_ONLY, b"<r>", b"\xff\xfe<", DEEP])
def test_hostile_xml_is_refused(xml):
    with pytest.raises(OfdError):
        parse_xml(xml, "test.xml")
    data = rezip(corpus_ofd("ofdrw-helloworld-unsigned.ofd"), replace={"OFD.xml": xml})
    with pytest.raises(OfdError):
        OfdPackage.open(data).document()


def test_missing_ofd_xml_and_docroot_are_clear():
    data = corpus_ofd("ofdrw-helloworld-unsigned.ofd")
    with pytest.raises(OfdError, match=r"no OFD\.xml"):
        OfdPackage.open(rezip(data, drop=("OFD.xml",))).document()
    with pytest.raises(OfdError, match="DocRoot"):
        OfdPackage.open(rezip(data, drop=("Doc_0/Document.xml",))).document()


@pytest.mark.parametrize(("written", "expected"), [
    ("20201010151120", "2020-10-10T15:11:20+08:00"), ("20211118072230Z", "2021-11-18T07:22:30+00:00"),
    ("20200723130907.763Z", "2020-07-23T13:09:07.763000+00:00"),
    ("2020-04-22 16:22:44", "2020-04-22T16:22:44+08:00"),
    ("2020-04-22T16:22:44Z", "2020-04-22T16:22:44+00:00"),
    # what seal/ofd.py writes; Python 3.11's fromisoformat read it as 04:20 (a CI run at 10:42:05)
    ("20261205104205Z", "2026-12-05T10:42:05+00:00"),
    ("2026-12-05T10:42:05+08:00", "2026-12-05T10:42:05+08:00"), ("yesterday", None), (None, None)])
def test_signature_times_as_producers_write_them(written, expected):
    moment = parse_datetime(written)
    assert (moment.isoformat() if moment else None) == expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300), st.integers(min_value=0, max_value=1600))
def test_fuzzed_bytes_never_escape_as_anything_but_ofd_error(noise, at):
    data = bytearray(corpus_ofd("ofdrw-helloworld-unsigned.ofd"))
    data[at:at + len(noise)] = noise
    try:
        package = OfdPackage.open(bytes(data))
        package.document()
        package.signatures()
    except OfdError:
        pass
