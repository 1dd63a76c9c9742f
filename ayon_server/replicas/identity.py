"""ReplicaIdentity: who this server process is, chosen once when its app is built.

The id is the hostname plus a random suffix: stable for the life of the process, new after a
restart (a restarted replica starts with an empty cache status and catches up), and unique even
when several replicas share a host.
"""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass

from ayon_server.version import __version__

MAX_HOSTNAME_LENGTH = 200


@dataclass(frozen=True)
class ReplicaIdentity:
    id: str
    hostname: str
    version: str

    @classmethod
    def new(cls) -> ReplicaIdentity:
        hostname = (socket.gethostname() or "localhost")[:MAX_HOSTNAME_LENGTH]
        return cls(id=f"{hostname}-{secrets.token_hex(4)}", hostname=hostname, version=__version__)
