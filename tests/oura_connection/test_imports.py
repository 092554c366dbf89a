"""The Oura connection is below both services: it imports only `schemas`, and the gateway reaches
Oura through it, never through the collector."""

from __future__ import annotations

from tests.test_import_directions import PACKAGES, offending


def test_the_oura_connection_imports_only_schemas() -> None:
    assert offending({"oura_connection"}, allowed={"schemas"}) == []


def test_the_gateway_imports_nothing_of_the_collector() -> None:
    assert offending({"gateway"}, allowed=PACKAGES - {"collector"}) == []
