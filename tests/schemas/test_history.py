"""Schema history: `schemas/avro/history/` holds every shipped version of every schema, the
codec knows each by fingerprint, and records written with any version decode through the current
reader, and current records through every older reader, both ways through the real broker."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from schemas import documents
from schemas.codec import AVRO_DIR, Codec, CodecError, default_codec, load_avsc, load_schema_dir
from schemas.data_types import BY_NAME
from schemas.examples import example_document
from schemas.quarantine import QUARANTINE_FILE
from schemas.records import RawRecord, decode_raw, encode_raw
from schemas.settings import KafkaSettings
from schemas.topics import raw_topic
from tests.collector.helpers import read_topics

HISTORY = AVRO_DIR / "history"
_VERSIONED = re.compile(r"^(?P<stem>[a-z0-9_]+)\.v(?P<version>[1-9][0-9]*)\.avsc$")
STEMS = sorted(p.stem for p in AVRO_DIR.glob("*.avsc"))
USER = "6f1c2f9e-1111-4c1e-9d7a-000000000001"
DAY = date(2026, 3, 14)


def _versions(stem: str) -> list[Path]:
    found = {}
    for path in HISTORY.glob(f"{stem}.v*.avsc"):
        match = _VERSIONED.match(path.name)
        assert match and match["stem"] == stem, f"{path.name}: name it <stem>.v<N>.avsc"
        found[int(match["version"])] = path
    return [found[v] for v in sorted(found)]


def _full_name(schema: dict[str, Any]) -> str:
    return f"{schema.get('namespace')}.{schema['name']}"


HISTORICAL = [(stem, path) for stem in STEMS for path in _versions(stem)]


def test_history_names_only_current_schemas() -> None:
    for path in HISTORY.glob("*.avsc"):
        match = _VERSIONED.match(path.name)
        assert match and match["stem"] in STEMS, f"{path.name} has no current schema"


@pytest.mark.parametrize("stem", STEMS)
def test_every_version_is_kept_and_the_newest_is_the_current_file(stem: str) -> None:
    versions = _versions(stem)
    assert versions, f"{stem}: no shipped version in {HISTORY}"
    numbers = [int(p.name.rsplit(".v", 1)[1].removesuffix(".avsc")) for p in versions]
    assert numbers == list(range(1, len(versions) + 1)), f"{stem}: a version is missing"
    current = load_avsc(AVRO_DIR / f"{stem}.avsc")
    assert load_avsc(versions[-1]) == current, (
        f"{stem}.avsc differs from its newest shipped version: copy it into history/ as "
        f"{stem}.v{len(versions) + 1}.avsc in the same change"
    )
    assert {_full_name(load_avsc(p)) for p in versions} == {_full_name(current)}


def test_the_default_codec_knows_every_historical_writer() -> None:
    _, history = load_schema_dir()
    assert len(history) == len(HISTORICAL)
    codec = default_codec()
    for _, path in HISTORICAL:
        schema = load_avsc(path)
        writer = Codec([schema])
        assert writer.fingerprint_of(_full_name(schema)) in codec.writer_fingerprints, path.name


# --- records through the broker ----------------------------------------------------------------


def _raw_record(data_type: str) -> RawRecord:
    return RawRecord(
        user_id=USER,
        data_type=data_type,
        document=example_document(data_type, day=DAY, seed=3),
        fetched_at=datetime(2026, 3, 15, 6, 0, 0, 123000, tzinfo=UTC),
        endpoint=f"/v2/usercollection/{BY_NAME[data_type].path}",
    )


def _datum(record: RawRecord) -> dict[str, Any]:
    return {
        "user_id": record.user_id,
        "data_type": record.data_type,
        "fetched_at": int(record.fetched_at.timestamp() * 1000),
        "endpoint": record.endpoint,
        "api_version": record.api_version,
        "document": documents.to_avro(record.data_type, record.document),
    }


def _plain(schema: Any) -> Any:
    """A datum for a record schema made of what every field's type allows first."""
    if isinstance(schema, list):
        return None if "null" in schema else _plain(schema[0])
    if isinstance(schema, dict):
        kind = schema["type"]
        if kind == "record":
            return {f["name"]: _plain(f["type"]) for f in schema["fields"]}
        if kind == "array":
            return []
        if kind == "map":
            return {}
        if schema.get("logicalType") == "timestamp-millis":
            return datetime(2026, 3, 15, 6, 0, 0, 123000, tzinfo=UTC)
        return _plain(kind)
    return {"string": "x", "long": 7, "int": 7, "double": 1.5, "boolean": True, "bytes": b""}[
        schema
    ]


def _old_writer_records() -> list[tuple[str, str, Path, bytes, Any]]:
    """(stem, topic suffix, version file, bytes written with that version, what was written)."""
    out = []
    for stem, path in HISTORICAL:
        schema = load_avsc(path)
        writer = Codec([schema])
        if stem in BY_NAME:
            record = _raw_record(stem)
            out.append(
                (stem, stem, path, writer.encode(_full_name(schema), _datum(record)), record)
            )
        else:
            datum = _plain(schema)
            out.append((stem, stem, path, writer.encode(_full_name(schema), datum), datum))
    return out


async def _through_broker(settings: KafkaSettings, values: list[bytes]) -> list[bytes]:
    topic = raw_topic("daily_sleep", settings.topic_prefix)
    producer = AIOKafkaProducer(**settings.client_kwargs(), acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=USER.encode())
    finally:
        await producer.stop()
    return await read_topics(settings, [topic], lambda m: bytes(m.value))


async def test_records_of_every_shipped_version_decode_through_the_current_reader(
    topics: KafkaSettings,
) -> None:
    written = _old_writer_records()
    received = await _through_broker(topics, [w[3] for w in written])
    assert sorted(received) == sorted(w[3] for w in written)
    by_bytes = {w[3]: w for w in written}
    current = default_codec()
    for data in received:
        stem, _, path, _, original = by_bytes[data]
        if stem in BY_NAME:
            assert decode_raw(data) == original, path.name
            continue
        name, datum = current.decode(data)
        reader = load_avsc(AVRO_DIR / f"{stem}.avsc")
        assert name == _full_name(reader), path.name
        for fld in reader["fields"]:
            expected = original.get(fld["name"], fld.get("default"))
            assert datum[fld["name"]] == expected, (path.name, fld["name"])


async def test_current_records_decode_through_every_older_reader(topics: KafkaSettings) -> None:
    current_schemas, history = load_schema_dir()
    records = {t: _raw_record(t) for t in BY_NAME}
    others = {
        stem: _plain(load_avsc(AVRO_DIR / f"{stem}.avsc")) for stem in STEMS if stem not in BY_NAME
    }
    written = {stem: encode_raw(r) for stem, r in records.items()}
    for stem, datum in others.items():
        written[stem] = default_codec().encode(
            _full_name(load_avsc(AVRO_DIR / f"{stem}.avsc")), datum
        )
    received = await _through_broker(topics, list(written.values()))
    assert sorted(received) == sorted(written.values())
    for stem, path in HISTORICAL:
        reader = load_avsc(path)
        old = Codec([reader], history=[*current_schemas, *history])
        name, datum = old.decode(written[stem])
        assert name == _full_name(reader)
        if stem in BY_NAME:
            assert datum["user_id"] == USER and datum["data_type"] == stem
            back = documents.from_avro(stem, datum["document"])
            assert back == records[stem].document, path.name
            continue
        for fld in reader["fields"]:
            expected = others[stem].get(fld["name"], fld.get("default"))
            assert datum[fld["name"]] == expected, (path.name, fld["name"])


def test_an_id_less_record_is_refused_clearly_by_a_reader_that_requires_an_id() -> None:
    record = _raw_record("daily_sleep")
    record.document.pop("id")
    data = encode_raw(record)
    assert decode_raw(data).document["id"] is None
    current_schemas, history = load_schema_dir()
    v1 = Codec([load_avsc(HISTORY / "daily_sleep.v1.avsc")], history=[*current_schemas, *history])
    with pytest.raises(CodecError):
        v1.decode(data)


def test_the_quarantine_schema_is_versioned_like_the_others() -> None:
    assert QUARANTINE_FILE in STEMS and _versions(QUARANTINE_FILE)
