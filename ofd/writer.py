"""Writing an OFD package: the entries of an existing one plus added or replaced entries.

An OFD signature protects files by the digest of their *uncompressed* bytes (GB/T 33190 §18), so
a reader never sees a difference in the files we leave alone; we go further and copy their raw
compressed data, local header fields and order unchanged, so the new package differs from the
old only by the entries that changed and those appended at the end. Changed entries keep their
place; new ones follow in the order given. Names are written as the caller gives them (the reader,
:mod:`ofd.package`, has already refused traversal, absolute and duplicate names); the writer still
refuses a duplicate, since two copies of a name would let readers disagree on which one is shown.

Plain zip (no Zip64, no encryption, no multi-disk): packages over 4 GiB are refused long before
this by the reader's limits.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from ofd.package import OfdError


class OfdWriteError(OfdError, ValueError):
    """A package that cannot be written as asked (duplicate or oversized entries, a broken original)."""


_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")
_END = struct.Struct("<4sHHHHIIH")
_UTF8_FLAG = 0x800
_DATA_DESCRIPTOR_FLAG = 0x8
_LIMIT = 0xFFFFFFFF
# 1 Jan 2000 00:00 (DOS date/time) for entries we write: a fixed stamp keeps output reproducible.
_DOS_TIME, _DOS_DATE = 0, (20 << 9) | (1 << 5) | 1


@dataclass(frozen=True)
class _Entry:
    name: bytes
    flags: int
    method: int
    dos_time: int
    dos_date: int
    crc: int
    compressed: bytes
    size: int
    version: int = 20


def _raw_entries(data: bytes) -> list[tuple[str, _Entry]]:
    """Each entry of ``data`` with its compressed bytes as stored (no decompression)."""
    import io

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise OfdWriteError(f"not a zip package: {exc}") from None
    entries = []
    for info in archive.infolist():
        if info.flag_bits & 0x1:
            raise OfdWriteError(f"entry {info.filename!r} is encrypted")
        if info.file_size > _LIMIT or info.compress_size > _LIMIT or info.header_offset > _LIMIT:
            raise OfdWriteError("Zip64 packages are not written")
        start = info.header_offset
        header = data[start:start + _LOCAL.size]
        if len(header) != _LOCAL.size or header[:4] != b"PK\x03\x04":
            raise OfdWriteError(f"entry {info.filename!r}: bad local header")
        fields = _LOCAL.unpack(header)
        body = start + _LOCAL.size + fields[9] + fields[10]
        compressed = data[body:body + info.compress_size]
        if len(compressed) != info.compress_size:
            raise OfdWriteError(f"entry {info.filename!r} is truncated")
        name = info.orig_filename.encode("utf-8" if info.flag_bits & _UTF8_FLAG else "cp437")
        entries.append((info.filename, _Entry(name, info.flag_bits & ~_DATA_DESCRIPTOR_FLAG, info.compress_type,
                                              fields[4], fields[5], info.CRC, compressed, info.file_size,
                                              max(20, info.extract_version))))
    return entries


def _deflate(content: bytes, level: int) -> tuple[bytes, int]:
    """Raw deflate and CRC-32 (small entries cached: a seal writes the same Seal.esl into every document)."""
    if len(content) <= 1 << 20:
        return _deflate_small(content, level)
    deflater = zlib.compressobj(level, zlib.DEFLATED, -15)
    return deflater.compress(content) + deflater.flush(), zlib.crc32(content)


@lru_cache(maxsize=16)
def _deflate_small(content: bytes, level: int) -> tuple[bytes, int]:
    deflater = zlib.compressobj(level, zlib.DEFLATED, -15)
    return deflater.compress(content) + deflater.flush(), zlib.crc32(content)


def _new_entry(name: str, content: bytes) -> _Entry:
    encoded = name.encode("utf-8")
    flags = 0 if encoded.isascii() else _UTF8_FLAG
    if len(content) > _LIMIT:
        raise OfdWriteError(f"entry {name!r} is too large")
    # XML compresses well; binaries (fonts, images, DER with a picture inside) hardly: deflate them fast
    compressed, crc = _deflate(content, 6 if name.endswith(".xml") else 1)
    return _Entry(encoded, flags, zipfile.ZIP_DEFLATED, _DOS_TIME, _DOS_DATE, crc, compressed, len(content))


def _assemble(entries: Iterable[_Entry]) -> bytes:
    out = bytearray()
    central = bytearray()
    count = 0
    for entry in entries:
        offset = len(out)
        out += _LOCAL.pack(b"PK\x03\x04", entry.version, entry.flags, entry.method, entry.dos_time, entry.dos_date,
                           entry.crc, len(entry.compressed), entry.size, len(entry.name), 0)
        out += entry.name
        out += entry.compressed
        central += _CENTRAL.pack(b"PK\x01\x02", 20, entry.version, entry.flags, entry.method, entry.dos_time,
                                 entry.dos_date, entry.crc, len(entry.compressed), entry.size, len(entry.name),
                                 0, 0, 0, 0, 0, offset)
        central += entry.name
        count += 1
    if count > 0xFFFF or len(out) > _LIMIT:
        raise OfdWriteError("the package is too large to write without Zip64")
    end = _END.pack(b"PK\x05\x06", 0, 0, count, count, len(central), len(out), 0)
    return bytes(out + central + end)


def write_package(original: bytes | None, changes: Mapping[str, bytes] | None = None, *,
                  added: Iterable[tuple[str, bytes]] = ()) -> bytes:
    """A new package: ``original``'s entries (raw, in order), with ``changes`` replacing entries by
    name in place, then ``added`` (name, bytes) appended in order. ``original`` None makes a new one.

    A name in ``changes`` that the original lacks is appended too (so callers need not know
    whether, say, ``Doc_0/Signs/Signatures.xml`` exists yet). A name in ``added`` that already
    exists is refused.
    """
    changes = dict(changes or {})
    existing = _raw_entries(original) if original is not None else []
    seen: set[str] = set()
    entries: list[_Entry] = []
    for name, entry in existing:
        if name in seen:
            raise OfdWriteError(f"duplicate entry {name!r} in the package")
        seen.add(name)
        entries.append(_new_entry(name, changes.pop(name)) if name in changes else entry)
    for name, content in [*changes.items(), *added]:
        if name in seen:
            raise OfdWriteError(f"entry {name!r} is already in the package")
        seen.add(name)
        entries.append(_new_entry(name, content))
    return _assemble(entries)


__all__ = ["OfdWriteError", "write_package"]
