"""Hypothesis strategies that damage real image files the way broken or hostile files are damaged.

Mutations: byte flips (biased to the header), truncations, zeroed or random runs, and edits of
the header fields parsers trust — JPEG segment lengths and frame sizes, TIFF/DNG tag values and
counts (image width/height, strip/tile offsets and sizes, bits per sample, CFA repeat...) set to
boundary and gigantic values.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from hypothesis import strategies as st

#: Values a header field is set to: boundaries, and sizes that would need gigabytes if trusted.
FIELD_VALUES = (0, 1, 2, 3, 7, 8, 16, 255, 256, 4095, 32767, 32768, 40000, 65535, 65536,
                1 << 24, 0x7FFFFFFF, 0xFFFFFFFF)
HEADER_BYTES = 4096


@dataclass(frozen=True)
class Field:
    offset: int
    width: int  # bytes
    big_endian: bool
    what: str


def tiff_fields(data: bytes) -> list[Field]:
    """Value and count fields of every entry of the TIFF IFDs (IFD0 chain, SubIFDs, EXIF)."""
    if len(data) < 8 or data[:2] not in (b"II", b"MM"):
        return []
    big = data[:2] == b"MM"
    end = ">" if big else "<"
    fields: list[Field] = []
    todo, seen = [struct.unpack(end + "I", data[4:8])[0]], set()
    while todo and len(seen) < 32:
        off = todo.pop()
        if off in seen or off + 2 > len(data):
            continue
        seen.add(off)
        (n,) = struct.unpack(end + "H", data[off:off + 2])
        for k in range(min(n, 512)):
            e = off + 2 + 12 * k
            if e + 12 > len(data):
                break
            tag, typ, cnt = struct.unpack(end + "HHI", data[e:e + 8])
            fields.append(Field(e + 4, 4, big, f"tag {tag:#06x} count"))
            if cnt == 1 and typ in (3, 8):
                fields.append(Field(e + 8, 2, big, f"tag {tag:#06x} value"))
            elif cnt == 1 and typ in (4, 9, 13):
                fields.append(Field(e + 8, 4, big, f"tag {tag:#06x} value"))
            else:
                fields.append(Field(e + 8, 4, big, f"tag {tag:#06x} offset"))
            if tag in (0x014A, 0x8769):
                todo.append(struct.unpack(end + "I", data[e + 8:e + 12])[0])
        nxt = off + 2 + 12 * n
        if nxt + 4 <= len(data):
            (following,) = struct.unpack(end + "I", data[nxt:nxt + 4])
            if following:
                todo.append(following)
    return fields


def jpeg_fields(data: bytes) -> list[Field]:
    """Segment lengths, frame sizes and component counts of a JPEG, up to the scan."""
    fields: list[Field] = []
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        fields.append(Field(pos + 2, 2, True, f"segment {marker:#04x} length"))
        if marker in (0xC0, 0xC1, 0xC2) and pos + 10 <= len(data):
            fields += [Field(pos + 5, 2, True, "frame height"), Field(pos + 7, 2, True, "frame width"),
                       Field(pos + 9, 1, True, "component count"), Field(pos + 4, 1, True, "sample precision")]
        if marker == 0xE1 and data[pos + 4:pos + 10] == b"Exif\0\0":
            fields += [Field(pos + 10 + f.offset, f.width, f.big_endian, "exif " + f.what)
                       for f in tiff_fields(data[pos + 10:pos + 2 + length])]
        if marker == 0xDA:
            fields.append(Field(pos + 4, 1, True, "scan component count"))
            break
        pos += 2 + length
    return fields


def sqlite_fields(data: bytes) -> list[Field]:
    """Header fields of an SQLite database file (page size, counts, cookies, versions, ids)."""
    if not data.startswith(b"SQLite format 3\0"):
        return []
    spec = [(16, 2, "page size"), (18, 1, "write version"), (19, 1, "read version"), (20, 1, "reserved bytes"),
            (28, 4, "page count"), (32, 4, "first freelist page"), (36, 4, "freelist count"),
            (40, 4, "schema cookie"), (44, 4, "schema format"), (52, 4, "largest root page"),
            (56, 4, "text encoding"), (60, 4, "user version"), (68, 4, "application id")]
    return [Field(off, width, True, what) for off, width, what in spec]


def fields_of(data: bytes) -> list[Field]:
    if data[:2] == b"\xff\xd8":
        return jpeg_fields(data)
    return sqlite_fields(data) or tiff_fields(data)


def _set_field(data: bytearray, field: Field, value: int) -> None:
    value &= (1 << (8 * field.width)) - 1
    data[field.offset:field.offset + field.width] = value.to_bytes(field.width, "big" if field.big_endian else "little")


@st.composite
def mutation(draw, data: bytes, fields: list[Field]) -> tuple[str, object]:
    size = len(data)
    kinds = ["flip", "flip", "truncate", "run"] + (["field", "field", "field"] if fields else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "flip":
        pos = draw(st.one_of(st.integers(0, min(size, HEADER_BYTES) - 1), st.integers(0, size - 1)))
        return kind, (pos, draw(st.integers(1, 255)))
    if kind == "truncate":
        return kind, draw(st.one_of(st.integers(0, min(size, HEADER_BYTES)), st.integers(0, size - 1)))
    if kind == "run":
        pos = draw(st.integers(0, size - 1))
        return kind, (pos, draw(st.integers(1, 512)), draw(st.sampled_from([0x00, 0xFF, 0x41])))
    field = draw(st.sampled_from(fields))
    value = draw(st.one_of(st.sampled_from(FIELD_VALUES), st.integers(0, 0xFFFFFFFF)))
    return kind, (field, value)


def apply(data: bytes, mutations: list[tuple[str, object]]) -> bytes:
    out = bytearray(data)
    for kind, arg in mutations:
        if kind == "flip":
            pos, mask = arg
            if pos < len(out):
                out[pos] ^= mask
        elif kind == "truncate":
            del out[arg:]
        elif kind == "run":
            pos, length, byte = arg
            out[pos:pos + length] = bytes([byte]) * len(out[pos:pos + length])
        else:
            field, value = arg
            if field.offset + field.width <= len(out):
                _set_field(out, field, value)
    return bytes(out)


class Case(tuple):
    """(seed name, damaged bytes, mutations); shown as the seed and its mutations, not the bytes."""

    def __repr__(self) -> str:
        return f"Case({self[0]!r}, {self[2]!r})"


@st.composite
def mutated(draw, seeds: dict[str, bytes]) -> Case:
    """(seed name, damaged bytes, the mutations) from one of ``seeds``."""
    name = draw(st.sampled_from(sorted(seeds)))
    data = seeds[name]
    fields = fields_of(data)
    muts = draw(st.lists(mutation(data, fields), min_size=1, max_size=4))
    return Case((name, apply(data, muts), muts))
