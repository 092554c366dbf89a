"""The dead-letter topic: records that failed decoding or validation, kept for a person to read.

The value is the original bytes, untouched. The key is `<user>/<source topic>/<partition>/<offset>`
(schemas.keys.dead_letter_key, the user taken from the source record's key): every dead letter
keeps its own key on the compacted topic, and an erasure finds a user's. Headers say where the
record came from, with its original key, and why it was refused, so it can be fixed and
re-produced to its raw topic. Each is also a row of the `dead_letters` table."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.keys import UNKNOWN_USER, dead_letter_key, user_of
from stream_processor import metrics
from stream_processor.storage.dead_letters import DeadLetterRow

MAX_MESSAGE_BYTES = 4000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    error_class: str
    error_message: str
    data_type: str = "unknown"

    @property
    def user_id(self) -> str:
        return user_of(self.key) or UNKNOWN_USER

    @property
    def letter_key(self) -> bytes:
        return dead_letter_key(self.user_id, self.topic, self.partition, self.offset)

    def message(self) -> str:
        message = self.error_message
        if len(message) > MAX_MESSAGE_BYTES:
            message = message[:MAX_MESSAGE_BYTES] + "…"
        return message

    def row(self) -> DeadLetterRow:
        return DeadLetterRow(
            key=_text(self.letter_key.decode("utf-8", "backslashreplace")),
            user_id=_text(self.user_id),
            source_topic=self.topic,
            source_partition=self.partition,
            source_offset=self.offset,
            data_type=_text(self.data_type),
            error_class=_text(self.error_class),
            reason=_text(self.message()),
        )

    def headers(self) -> list[tuple[str, bytes]]:
        message = self.message()
        original = [] if self.key is None else [("source.key", self.key)]
        return [
            *original,
            ("source.topic", self.topic.encode()),
            ("source.partition", str(self.partition).encode()),
            ("source.offset", str(self.offset).encode()),
            ("error.class", self.error_class.encode()),
            ("error.message", message.encode()),
            ("data_type", self.data_type.encode()),
        ]

    def count(self) -> None:
        metrics.DEAD_LETTERED.labels(self.data_type, self.error_class).inc()


def _text(value: str) -> str:
    """PostgreSQL text holds no NUL character, and a quoted lone surrogate is not UTF-8."""
    return value.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode()


def header_map(headers: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...]) -> dict[str, str]:
    """Headers of a dead-letter record as text, for readers and tests."""
    return {name: value.decode("utf-8", "backslashreplace") for name, value in headers}
