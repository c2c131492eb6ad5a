"""Plain Starlette routes (GET /metadata) that BentoML mounts last, so they only see paths no
API route took; they read this worker's service instance from `SERVICES`.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

# The ChurnRec instance(s) of this worker process; the newest one answers.
SERVICES: list[Any] = []


async def metadata(_: Request) -> JSONResponse:
    """GET /metadata: which model versions and which snapshot are being served."""
    if not SERVICES:
        return JSONResponse({"ready": False}, status_code=503)
    return JSONResponse(SERVICES[-1].metadata_view().model_dump())


def mounted_app() -> Starlette:
    return Starlette(routes=[Route("/metadata", metadata, methods=["GET"])])
