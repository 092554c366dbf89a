"""What a refused credential (an access token, an OAuth state) raises."""

from __future__ import annotations


class Refused(Exception):
    """`code` goes into the error answer's `code`, `detail` into its `detail`."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
