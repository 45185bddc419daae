"""Helpers of the OFD tests: the shared corpus (../shared/corpus/ofd) and rewriting packages entry by entry."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from tests.helpers import CI

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("YITONG_CORPUS") or REPO.parent / "shared" / "corpus")
OFD_FILES = ["anzhengtong-v4-two-seals.ofd", "invoice-example-v4.ofd", "ofdrw-1-v4.ofd",
             "ofdrw-DigitalSign-raw-sm2.ofd", "ofdrw-SESV4SignDoc.ofd", "ofdrw-helloworld-unsigned.ofd",
             "ofdrw-keyword-pkcs7-and-v4.ofd", "ofdrw-keyword2-v4.ofd", "ofdrw-n-v1.ofd", "ofdrw-v4signed.ofd"]


def corpus(*parts: str) -> Path:
    path = CORPUS.joinpath(*parts)
    if not path.exists():
        message = f"interop corpus file {path} is absent (set YITONG_CORPUS to the shared corpus)"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def corpus_ofd(name: str) -> bytes:
    return corpus("ofd", name).read_bytes()


def entries(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def build(items: list[tuple[str, bytes]], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of exactly these (name, bytes) pairs, in order (duplicates and odd names allowed: attacks)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, content in items:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = compression
            if name.endswith("/"):
                info.external_attr = 0o40755 << 16
            archive.writestr(info, content)
    return out.getvalue()


def rezip(data: bytes, replace: dict[str, bytes] | None = None, add: list[tuple[str, bytes]] | None = None,
          drop: tuple[str, ...] = ()) -> bytes:
    """The package with some entries replaced, dropped or added; every other entry byte for byte."""
    replace = replace or {}
    items = [(name, replace.get(name, content)) for name, content in entries(data) if name not in drop]
    missing = set(replace) - {name for name, _ in items}
    assert not missing, f"no such entries to replace: {missing}"
    return build(items + list(add or []))
