"""The stream processor's configuration: one typed object, read from the environment once.

Connection settings come from the shared `KAFKA_*` / `DB_*` objects; knobs only the processor
has are `PROCESSOR_*`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt
from pydantic_settings import BaseSettings

from schemas.settings import Port, service_settings


class ProcessorSettings(BaseSettings):
    """Everything `python -m stream_processor` reads besides KAFKA_* and DB_*."""

    model_config = service_settings("PROCESSOR_")

    environment: Literal["development", "staging", "production"] = "production"
    log_level: str = "INFO"
    group_id: str = "myhealth-processor"
    data_types: list[str] = Field(default_factory=list)
    """Raw topics to consume, by data type; empty means all of them."""
    batch_size: PositiveInt = 4000
    batch_within_s: PositiveFloat = 0.5
    """With PROCESSOR_FEED=stream: how long a batch waits to fill up."""
    feed: Literal["handoff", "stream"] = "handoff"
    """How records reach the persist agent: one batch per fetch (handoff), or Faust's stock
    per-message stream in noack_take batches (stream; slower, no private API)."""
    data_dir: str = "/tmp/myhealth-processor"
    """Faust's data directory (the app keeps no tables: nothing durable is here)."""
    metrics_port: Port = 9102
    fetch_partition_bytes: int = Field(default=1024 * 1024, ge=64 * 1024)
    fetch_max_bytes: int = Field(default=16 * 1024 * 1024, ge=1024 * 1024)
    """What one fetch response may bring, over all partitions (bounds the RSS)."""
    # How long the group waits for a worker that died without leaving: its partitions are
    # handed over after this.
    session_timeout_s: float = Field(default=30.0, ge=6)
    rebalance_wait_s: PositiveFloat = 20.0
    """How long a rebalance waits for the batch being written to commit."""
    stop_wait_s: PositiveFloat = 30.0
    """How long a stop waits for the batch being written to commit."""
    retry_base_s: PositiveFloat = 0.2
    retry_cap_s: PositiveFloat = 10.0
    lag_interval_s: PositiveFloat = 5.0
