"""Structured JSON logs for every service, with secrets scrubbed before a line is written.

Scrubbing is the last line of defence: code must not log secrets in the first place, but a
token inside an exception message from a library must still never reach a log line."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

_SECRET_PATTERNS = [
    # JWTs (three base64url parts) and bearer credentials.
    re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    # key=value or "key": "value" pairs whose key names a secret.
    re.compile(
        r"(?i)((?:access_token|refresh_token|id_token|client_secret|password|passwd|secret|"
        r"authorization|api_key|token)[\"']?\s*[:=]\s*[\"']?)([^\"'&\s,}]+)"
    ),
    # Fernet ciphertexts / keys.
    re.compile(r"gAAAAA[A-Za-z0-9_=-]{20,}"),
    # Query parameters that carry credentials or identities (the OAuth callback's code and
    # state, emails), in request lines, URLs in exception messages and redirect targets.
    re.compile(r"(?i)([?&](?:code|state|email|login|username|[a-z_]*token)=)[^&\s\"']+"),
    # Email addresses, plain or percent-encoded: they identify a person.
    re.compile(r"[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"),
]
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def scrub(text: str) -> str:
    """Replace anything that looks like a credential with [REDACTED]."""
    for pattern in _SECRET_PATTERNS:
        if pattern.groups >= 1:
            text = pattern.sub(lambda m: f"{m.group(1)}[REDACTED]", text)
        else:
            text = pattern.sub("[REDACTED]", text)
    return text


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return scrub(json.dumps(entry, default=str, ensure_ascii=False))


def configure_logging(service: str, level: str = "INFO", *, access_log: bool = False) -> None:
    """Route every logger (ours, uvicorn's, aiokafka's) to one JSON stream on stderr.

    uvicorn writes request lines only while its `uvicorn.access` logger has a handler, and a
    propagating logger borrows the root's: unless `access_log` is asked for, that logger is cut
    off, whatever order uvicorn and this function configure things in."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "aiokafka"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    access = logging.getLogger("uvicorn.access")
    access.propagate = access_log
    access.disabled = not access_log
    # One line per HTTP request to Oura is noise at INFO; failures are logged by our client.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
