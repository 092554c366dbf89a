"""How a fetch can fail. Each names what the collector does next."""

from __future__ import annotations


class OuraFetchError(Exception):
    """The window could not be fetched; its cursor stays where it was."""


class NotGranted(OuraFetchError):
    """403: the user did not grant this data type (or their membership lapsed)."""


class WindowFailed(OuraFetchError):
    """Retries exhausted (5xx, timeouts, malformed pages) or a request Oura will never accept."""


class Unauthorized(OuraFetchError):
    """401 even after a token refresh."""


class DocumentNotFound(OuraFetchError):
    """404 for one document by id: deleted since it was announced, or never visible to us."""
