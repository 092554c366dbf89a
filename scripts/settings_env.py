"""Every environment variable the services' settings objects read, with its default and the
services that read it — the source of the README's configuration table and of the deployment
tests' check that compose and Helm only pass variables some service reads.

    python scripts/settings_env.py [--json | --markdown]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pydantic_settings import BaseSettings

from collector.settings import CollectorSettings
from gateway.settings import GatewaySettings
from schemas.settings import DatabaseSettings, KafkaSettings
from stream_processor.settings import ProcessorSettings

SETTINGS: dict[str, list[type[BaseSettings]]] = {
    "collector": [CollectorSettings, KafkaSettings, DatabaseSettings],
    "stream_processor": [ProcessorSettings, KafkaSettings, DatabaseSettings],
    "gateway": [GatewaySettings, KafkaSettings, DatabaseSettings],
    "migrations": [KafkaSettings, DatabaseSettings],
}


def _env_name(cls: type[BaseSettings], field: str, alias: object) -> str:
    if isinstance(alias, str):
        return alias
    return f"{cls.model_config.get('env_prefix', '')}{field}".upper()


def _default(info: Any) -> str:
    value = info.default if info.default_factory is None else info.default_factory()
    if hasattr(value, "get_secret_value"):
        return "(development value)" if value.get_secret_value() else ""
    if isinstance(value, list):
        return ",".join(map(str, value))
    return "" if value is None else str(value)


def variables() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for service, classes in SETTINGS.items():
        for cls in classes:
            for field, info in cls.model_fields.items():
                name = _env_name(cls, field, info.validation_alias)
                entry = found.setdefault(name, {"default": _default(info), "services": []})
                if service not in entry["services"]:
                    entry["services"].append(service)
    return dict(sorted(found.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    table = variables()
    if not args.markdown:
        print(json.dumps(table, indent=1))  # noqa: T201
        return 0
    for name, entry in table.items():
        default = f"`{entry['default']}`" if entry["default"] else "—"
        print(f"| `{name}` | {default} | {', '.join(entry['services'])} |")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
