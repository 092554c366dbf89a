"""The dead-letter topic: records that failed decoding or validation, kept for a person to read.

The value is the original bytes, untouched; the key is the original key. Headers say where the
record came from and why it was refused, so it can be fixed and re-produced to its raw topic."""

from __future__ import annotations

from dataclasses import dataclass

from stream_processor import metrics

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

    def headers(self) -> list[tuple[str, bytes]]:
        message = self.error_message
        if len(message) > MAX_MESSAGE_BYTES:
            message = message[:MAX_MESSAGE_BYTES] + "…"
        return [
            ("source.topic", self.topic.encode()),
            ("source.partition", str(self.partition).encode()),
            ("source.offset", str(self.offset).encode()),
            ("error.class", self.error_class.encode()),
            ("error.message", message.encode()),
            ("data_type", self.data_type.encode()),
        ]

    def count(self) -> None:
        metrics.DEAD_LETTERED.labels(self.data_type, self.error_class).inc()


def header_map(headers: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...]) -> dict[str, str]:
    """Headers of a dead-letter record as text, for readers and tests."""
    return {name: value.decode() for name, value in headers}
