"""`GET /metrics`: Prometheus text format (a fixed contract).

Unauthenticated, like most Prometheus endpoints, so a scraper needs no credentials: it shows
counts, durations and health, never user data. Keep it off the public internet (e.g. scrape the
pods directly, or block /metrics at the ingress) if those figures are sensitive where you run.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from ayon_server.prometheus import ServerMetrics

router = APIRouter(tags=["Metrics"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def get_metrics(request: Request) -> Response:
    metrics: ServerMetrics = request.app.state.metrics
    return Response(
        await metrics.scrape(),
        media_type=CONTENT_TYPE_LATEST,
        headers={"Cache-Control": "no-store"},
    )
