"""One router module per resource; `ROUTERS` lists them for ayon_server.api.app to include.

Order is precedence: where two routes could match one path, the earlier module's route answers.
A new resource is a new module here and one line in `ROUTERS`.
"""

from __future__ import annotations

from fastapi import APIRouter

from ayon_server.api.routes import (
    actions,
    activities,
    addons,
    anatomy,
    attributes,
    auth,
    bundles,
    desktop,
    enroll,
    entities,
    events,
    files,
    frontend,
    graphql,
    health,
    info,
    links,
    logs,
    maintenance,
    metrics,
    operations,
    projects,
    replicas,
    sites,
    thumbnails,
    users,
    websocket,
)

ROUTERS: tuple[APIRouter, ...] = (
    actions.router,
    activities.router,
    addons.router,
    anatomy.router,
    attributes.router,
    auth.router,
    bundles.router,
    desktop.router,
    enroll.router,
    entities.router,
    events.router,
    files.router,
    frontend.router,
    graphql.router,
    health.router,
    info.router,
    links.router,
    logs.router,
    maintenance.router,
    metrics.router,
    operations.router,
    projects.router,
    replicas.router,
    sites.router,
    thumbnails.router,
    users.router,
    websocket.router,
)
