"""Services as the real processes (`python -m gateway`, `python -m oura_simulator`), with
their output in a file for the test to read."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited: {log.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer: {log.read_text()}")


@contextmanager
def running(args: list[str], env: dict[str, str], log: Path, ready_url: str) -> Iterator[None]:
    out: IO[bytes] = log.open("wb")
    process = subprocess.Popen([sys.executable, *args], env=env, stdout=out, stderr=out)
    try:
        wait_for(ready_url, process, log)
        yield
    finally:
        process.terminate()
        process.wait(20)
        out.close()
