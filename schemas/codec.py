"""Avro single-object encoding (Avro specification, "Single object encoding"):

    C3 01 | 8-byte little-endian CRC-64-AVRO fingerprint of the writer schema's
            Parsing Canonical Form | Avro binary body

Every schema version that ever shipped stays registered, so a record is decoded with the exact
schema that wrote it and then resolved against the current reader schema of the same name.
"""

from __future__ import annotations

import contextlib
import io
import json
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, to_parsing_canonical_form

from schemas.flat_writer import compile_flat_writer

MAGIC = b"\xc3\x01"
HEADER_LEN = 10
AVRO_DIR = Path(__file__).parent / "avro"


class CodecError(Exception):
    """Base class: anything the codec refuses to decode or encode."""


class CorruptRecord(CodecError):
    """The bytes are not a single-object-encoded Avro record, or the body does not parse."""


class UnknownSchema(CodecError):
    """The fingerprint names a writer schema this codec was never given."""


class EncodeError(CodecError):
    """The datum does not match the schema it is being written with."""


@dataclass(frozen=True, slots=True)
class _Registered:
    name: str
    fingerprint: bytes
    parsed: Any  # fastavro's parsed schema


def schema_fingerprint(schema: Mapping[str, Any]) -> bytes:
    """The 8 fingerprint bytes as they appear on the wire (little-endian CRC-64-AVRO)."""
    canonical = to_parsing_canonical_form(parse_schema(dict(schema), _write_hint=False))
    # fastavro renders the CRC-64-AVRO value as hex of its little-endian bytes: the wire order.
    return bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))


class Codec:
    """Encodes with the current schema of a name; decodes any registered writer version."""

    def __init__(
        self, current: Iterable[Mapping[str, Any]], history: Iterable[Mapping[str, Any]] = ()
    ):
        self._current: dict[str, _Registered] = {}
        self._writers: dict[bytes, _Registered] = {}
        self._flat: dict[str, Callable[[Mapping[str, Any]], bytes | None]] = {}
        for schema in history:
            self._register(schema)
        for schema in current:
            reg = self._register(schema)
            self._current[reg.name] = reg
            with contextlib.suppress(ValueError):  # not flat: fastavro writes it
                self._flat[reg.name] = compile_flat_writer(schema)

    def _register(self, schema: Mapping[str, Any]) -> _Registered:
        parsed: Any = parse_schema(dict(schema))
        reg = _Registered(str(parsed["name"]), schema_fingerprint(schema), parsed)
        self._writers[reg.fingerprint] = reg
        return reg

    @property
    def names(self) -> list[str]:
        return sorted(self._current)

    @property
    def writer_fingerprints(self) -> frozenset[bytes]:
        """Every writer schema this codec decodes: the current ones and their history."""
        return frozenset(self._writers)

    def fingerprint_of(self, name: str) -> bytes:
        return self._reader(name).fingerprint

    def _reader(self, name: str) -> _Registered:
        try:
            return self._current[name]
        except KeyError:
            raise UnknownSchema(f"no current schema named {name!r}") from None

    def encode(self, name: str, datum: Mapping[str, Any]) -> bytes:
        reg = self._reader(name)
        flat = self._flat.get(name)
        body = flat(datum) if flat is not None else None
        if body is not None:
            return MAGIC + reg.fingerprint + body
        out = io.BytesIO()
        out.write(MAGIC)
        out.write(reg.fingerprint)
        try:
            schemaless_writer(out, reg.parsed, datum)
        except (ValueError, TypeError, KeyError, AttributeError, struct.error) as exc:
            raise EncodeError(f"{name}: {type(exc).__name__}: {exc}") from exc
        return out.getvalue()

    def writer_of(self, data: bytes) -> str:
        """The schema name of an encoded record, without decoding its body."""
        return self._writer(data).name

    def _writer(self, data: bytes) -> _Registered:
        if len(data) < HEADER_LEN or data[:2] != MAGIC:
            raise CorruptRecord("not Avro single-object encoding (missing C3 01 marker)")
        reg = self._writers.get(bytes(data[2:HEADER_LEN]))
        if reg is None:
            raise UnknownSchema(f"unknown writer schema fingerprint {data[2:HEADER_LEN].hex()}")
        return reg

    def decode(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """Returns (schema name, datum resolved to the current reader schema of that name)."""
        writer = self._writer(data)
        reader = self._current.get(writer.name)
        if reader is None:
            raise UnknownSchema(f"writer schema {writer.name!r} has no current reader schema")
        stream = io.BytesIO(data)
        stream.seek(HEADER_LEN)
        try:
            if reader is writer:
                datum = schemaless_reader(stream, writer.parsed, None)
            else:
                datum = schemaless_reader(stream, writer.parsed, reader.parsed)
        except Exception as exc:  # fastavro raises many types on garbage
            raise CorruptRecord(
                f"{writer.name}: body does not decode: {type(exc).__name__}: {exc}"
            ) from exc
        if stream.tell() != len(data):
            raise CorruptRecord(
                f"{writer.name}: {len(data) - stream.tell()} trailing bytes after the body"
            )
        if not isinstance(datum, dict):
            raise CorruptRecord(f"{writer.name}: decoded to {type(datum).__name__}, not a record")
        return writer.name, datum


def load_avsc(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def load_schema_dir(
    directory: Path = AVRO_DIR,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Current schemas: `avro/*.avsc`; every version that shipped before: `avro/history/`."""
    current = [load_avsc(p) for p in sorted(directory.glob("*.avsc"))]
    history = [load_avsc(p) for p in sorted((directory / "history").glob("**/*.avsc"))]
    return current, history


_default: Codec | None = None


def default_codec() -> Codec:
    """The process-wide codec over the schemas shipped in this package."""
    global _default
    if _default is None:
        _default = Codec(*load_schema_dir())
    return _default
