"""Read myHealth's raw topics with nothing but the `.avsc` files, fastavro and a Kafka client.

    pip install fastavro aiokafka
    python consumer_example.py --bootstrap 127.0.0.1:19092 --topic oura.raw.daily_activity \
        --schemas path/to/schemas/avro

Each record is Avro single-object encoding: C3 01, the 8-byte little-endian CRC-64-AVRO
fingerprint of the writer schema, then the Avro body. Sample series are packed as little-endian
float64 bytes (NaN = null), as each `.avsc` field doc explains.
"""

import argparse
import asyncio
import io
import json
import math
import struct
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from fastavro import parse_schema, schemaless_reader
from fastavro.schema import fingerprint, to_parsing_canonical_form


def load_writers(folder: Path) -> dict[bytes, dict]:
    """Fingerprint -> parsed schema, for every .avsc (add avro/history/ for older versions)."""
    writers = {}
    for path in sorted(folder.glob("**/*.avsc")):
        schema = parse_schema(json.loads(path.read_text()))
        canonical = to_parsing_canonical_form(schema)
        writers[bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))] = schema
    return writers


def unpack_series(value):
    """Turn packed sample series back into Oura's {interval, items, timestamp} shape."""
    if isinstance(value, dict):
        if isinstance(value.get("items"), bytes) and "null_items" in value:
            raw = value["items"]
            items = [struct.unpack_from("<d", raw, i)[0] for i in range(0, len(raw), 8)]
            items = [None if math.isnan(x) else x for x in items]
            return {"interval": value["interval"], "items": items, "timestamp": value["timestamp"]}
        return {k: unpack_series(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unpack_series(v) for v in value]
    return value


def decode(data: bytes, writers: dict[bytes, dict]) -> dict:
    if data[:2] != b"\xc3\x01":
        raise ValueError("not Avro single-object encoding")
    schema = writers[data[2:10]]  # KeyError: a schema version this reader does not have
    return unpack_series(schemaless_reader(io.BytesIO(data[10:]), schema, None))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    parser.add_argument("--topic", default="oura.raw.daily_activity")
    parser.add_argument("--schemas", type=Path, default=Path("schemas/avro"))
    parser.add_argument("--max", type=int, default=10)
    args = parser.parse_args()
    writers = load_writers(args.schemas)
    consumer = AIOKafkaConsumer(
        args.topic, bootstrap_servers=args.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        seen = 0
        async for message in consumer:
            record = decode(message.value, writers)
            document = record["document"]
            met = document.get("met") or {}
            print(
                json.dumps(
                    {  # one JSON line per record
                        "user_id": record["user_id"],
                        "data_type": record["data_type"],
                        "id": document.get("id"),
                        "day": document.get("day"),
                        "met_items": len(met.get("items", [])),
                    }
                )
            )
            seen += 1
            if seen >= args.max:
                break
    finally:
        await consumer.stop()


if __name__ == "__main__":
    asyncio.run(main())
