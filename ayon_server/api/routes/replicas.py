"""GET /api/system/replicas (admin): the server replicas and what each has installed.

A replica writes its row at start and every heartbeat; `live` means seen within two minutes.
Rows of replicas gone for longer than `replicaRetentionHours` are removed by clean_replicas.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from ayon_server.api.auth import AdminUser
from ayon_server.api.dependencies import RuntimeDep
from ayon_server.replicas.store import PackageKind, PackageStatus, list_replicas

router = APIRouter(prefix="/api/system", tags=["System"])


class _CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class ReplicaPackageModel(_CamelModel):
    kind: PackageKind
    name: str
    version: str
    status: PackageStatus
    error: str | None = None


class ReplicaModel(_CamelModel):
    id: str
    hostname: str
    version: str
    started_at: datetime
    last_seen: datetime
    live: bool
    packages: list[ReplicaPackageModel]


class ReplicaList(_CamelModel):
    replicas: list[ReplicaModel]


@router.get("/replicas", response_model=ReplicaList)
async def get_replicas(_admin: AdminUser, runtime: RuntimeDep) -> ReplicaList:
    replicas = await list_replicas(runtime.db)
    return ReplicaList(
        replicas=[
            ReplicaModel(
                id=replica.id,
                hostname=replica.hostname,
                version=replica.version,
                started_at=replica.started_at,
                last_seen=replica.last_seen,
                live=replica.live,
                packages=[
                    ReplicaPackageModel(
                        kind=package.kind,
                        name=package.name,
                        version=package.version,
                        status=package.status,
                        error=package.error,
                    )
                    for package in replica.packages
                ],
            )
            for replica in replicas
        ]
    )
