"""Erasure receipts: `GET /api/erasures/{id}` tells how the erasure of an account stands.

No login: the account is gone by then, and the id (a random UUID handed only to the person who
asked for the erasure) is the capability. The receipt names no user."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, Field

from gateway.deps import ReadsDep
from gateway.erasure import ErasureReceipt, ErasureStatus, get_receipt
from gateway.errors import ApiError
from gateway.models import with_example
from gateway.routes import error_responses

router = APIRouter(prefix="/api", tags=["accounts"])


def status_url(erasure_id: UUID) -> str:
    return f"/api/erasures/{erasure_id}"


class ErasureAccepted(BaseModel):
    model_config = with_example(
        {
            "id": "3f1c2a4e-8d7b-4c55-9a0e-6b2d1f7c8e90",
            "status": "in_progress",
            "status_url": "/api/erasures/3f1c2a4e-8d7b-4c55-9a0e-6b2d1f7c8e90",
        }
    )
    id: UUID
    status: ErasureStatus
    status_url: str = Field(description="Where the receipt can be read, without logging in")


@router.get("/erasures/{erasure_id}", responses=error_responses(404, 422))
async def read_erasure(erasure_id: UUID, reads: ReadsDep) -> ErasureReceipt:
    """The receipt of an account's erasure: rows deleted, tombstones published, and the times
    by which Kafka's compaction has removed the account's records and then the tombstones."""
    receipt = await get_receipt(reads.pool, erasure_id)
    if receipt is None:
        raise ApiError(404, "not_found", "no erasure has this id")
    return receipt
