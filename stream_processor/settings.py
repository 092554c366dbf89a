"""The stream processor's configuration: one typed object, read from the environment once.

Connection settings come from the shared `KAFKA_*` / `DB_*` objects; knobs only the processor
has are `PROCESSOR_*`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ProcessorSettings(BaseSettings):
    """Everything `python -m stream_processor` reads besides KAFKA_* and DB_*."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    environment: Literal["development", "staging", "production"] = "production"
    log_level: str = "INFO"
    group_id: str = Field(default="myhealth-processor", validation_alias="PROCESSOR_GROUP_ID")
    batch_size: int = Field(default=4000, ge=1, validation_alias="PROCESSOR_BATCH_SIZE")
    batch_within_s: float = Field(
        default=0.5,
        gt=0,
        validation_alias="PROCESSOR_BATCH_WITHIN_S",
        description="With PROCESSOR_FEED=stream: how long a batch waits to fill up.",
    )
    feed: Literal["handoff", "stream"] = Field(
        default="handoff",
        validation_alias="PROCESSOR_FEED",
        description=(
            "How records reach the persist agent: one batch per fetch (handoff), or Faust's "
            "stock per-message stream in noack_take batches (stream; slower, no private API)."
        ),
    )
    data_dir: str = Field(
        default="/tmp/myhealth-processor",
        validation_alias="PROCESSOR_DATA_DIR",
        description="Faust's data directory (the app keeps no tables: nothing durable is here).",
    )
    metrics_port: int = Field(
        default=9102, ge=0, le=65535, validation_alias="PROCESSOR_METRICS_PORT"
    )
    fetch_partition_bytes: int = Field(
        default=1024 * 1024, ge=64 * 1024, validation_alias="PROCESSOR_FETCH_PARTITION_BYTES"
    )
    fetch_max_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024 * 1024,
        validation_alias="PROCESSOR_FETCH_MAX_BYTES",
        description="What one fetch response may bring, over all partitions (bounds the RSS).",
    )
    # How long the group waits for a worker that died without leaving: its partitions are
    # handed over after this.
    session_timeout_s: float = Field(
        default=30.0, ge=6, validation_alias="PROCESSOR_SESSION_TIMEOUT_S"
    )
    rebalance_wait_s: float = Field(
        default=20.0,
        gt=0,
        validation_alias="PROCESSOR_REBALANCE_WAIT_S",
        description="How long a rebalance waits for the batch being written to commit.",
    )
    stop_wait_s: float = Field(
        default=30.0,
        gt=0,
        validation_alias="PROCESSOR_STOP_WAIT_S",
        description="How long a stop waits for the batch being written to commit.",
    )
    retry_base_s: float = Field(default=0.2, gt=0, validation_alias="PROCESSOR_RETRY_BASE_S")
    retry_cap_s: float = Field(default=10.0, gt=0, validation_alias="PROCESSOR_RETRY_CAP_S")
    lag_interval_s: float = Field(default=5.0, gt=0, validation_alias="PROCESSOR_LAG_INTERVAL_S")
    data_types: list[str] = Field(
        default_factory=list,
        validation_alias="PROCESSOR_DATA_TYPES",
        description="Raw topics to consume, by data type; empty means all of them.",
    )
