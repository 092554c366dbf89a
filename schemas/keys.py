"""Record keys and the partitioner every producer of the platform uses.

A key is `<user_id>/<rest>`: the user part says whose record it is (erasure finds a user's keys by
it), the rest says which record within the user's, so compaction keeps the newest of each.

| topic                 | key                                              |
|-----------------------|--------------------------------------------------|
| `oura.raw.<type>`     | `<user_id>/<document key>` (schemas.records.document_key) |
| `oura.trends.daily`   | `<user_id>/<metric>/<day>`                       |
| `oura.dlq`            | `<user_id>/<source topic>/<partition>/<offset>`  |
| `oura.raw.quarantine` | `<user_id>/<data type>/<document key>`           |
| `oura.webhook.events` | `<user_id>`                                      |

The partition is Kafka's default partitioner applied to the user part alone:
`(murmur2(user_part) & 0x7fffffff) % partitions`. Every record of a user therefore lands on the
partition a key of just the user id would (the layout before compaction), so one processor owns
each user and a user's records stay in order. A Java producer gets the same result from a
partitioner that hashes the bytes before the first `/` with `Utils.murmur2`."""

from __future__ import annotations

from functools import lru_cache

from aiokafka.partitioner import murmur2

SEPARATOR = "/"
UNKNOWN_USER = "unknown"
"""User part of a dead letter whose source record had no readable key."""


def raw_key(user_id: str, document_key: str) -> bytes:
    return f"{user_id}{SEPARATOR}{document_key}".encode()


def trend_key(user_id: str, metric: str, day: str) -> bytes:
    return f"{user_id}{SEPARATOR}{metric}{SEPARATOR}{day}".encode()


def dead_letter_key(user_id: str, topic: str, partition: int, offset: int) -> bytes:
    return f"{user_id}{SEPARATOR}{topic}{SEPARATOR}{partition}{SEPARATOR}{offset}".encode()


def quarantine_key(user_id: str, data_type: str, document_key: str) -> bytes:
    return f"{user_id}{SEPARATOR}{data_type}{SEPARATOR}{document_key}".encode()


def user_key(user_id: str) -> bytes:
    return user_id.encode()


def user_part(key: bytes | None) -> bytes | None:
    """The bytes before the first `/` (the whole key when it has none); None for no key."""
    if key is None:
        return None
    cut = key.find(b"/")
    return key if cut < 0 else key[:cut]


def user_of(key: bytes | None) -> str | None:
    """The user id a key names, or None when there is no key or it is not UTF-8."""
    part = user_part(key)
    if not part:
        return None
    try:
        return part.decode()
    except UnicodeDecodeError:
        return None


def document_key_of(key: bytes | None) -> str | None:
    """The part after the user for a raw key (`<user>/<document key>`), else None."""
    if key is None:
        return None
    cut = key.find(b"/")
    if cut < 0:
        return None
    try:
        return key[cut + 1 :].decode()
    except UnicodeDecodeError:
        return None


@lru_cache(maxsize=65_536)
def _user_hash(part: bytes) -> int:
    # murmur2 is pure Python; every record of a user hashes the same bytes.
    return int(murmur2(part)) & 0x7FFFFFFF


def partition_of(key: bytes | None, partitions: int) -> int:
    """The partition a key goes to on a topic with `partitions` partitions."""
    part = user_part(key)
    if part is None:
        raise ValueError("every platform record has a key")
    return _user_hash(part) % partitions


def partition_by_user(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """aiokafka `partitioner=` callable: the user part of the key picks the partition."""
    if key is None:
        # Nothing the platform sends lacks a key; an outside caller's keyless record goes
        # where Kafka's default would put it rather than failing the send.
        from aiokafka.partitioner import DefaultPartitioner

        return int(DefaultPartitioner()(key, all_partitions, available))
    return all_partitions[partition_of(key, len(all_partitions))]
