# AYON server core: ONE image, three roles (setup, server, maintenance), chosen at run time by
# AYON_RUN_SETUP / AYON_RUN_SERVER / AYON_RUN_MAINTENANCE (all unset = all-in-one); see docs/ARCHITECTURE.md.
#
#   docker build -t ayon-server-core:local .
#
# Behind a package mirror or an HTTP(S) proxy (nothing of this machine is baked in):
#   docker build --build-arg PIP_INDEX_URL=https://mirror.example/simple \
#                --build-arg HTTPS_PROXY=http://proxy.example:3128 -t ayon-server-core:local .
# HTTP_PROXY/HTTPS_PROXY/NO_PROXY are Docker's predefined build args: they reach pip but are not
# stored in the image; PIP_* args show in `docker history`, so keep credentials out of them.
# A TLS-intercepting proxy needs a base image that trusts its CA.
# Only the classic builder's features are used (no BuildKit-only syntax).

FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Non-root runtime user; it writes only to /storage (AYON_STORAGE_DIR) and /addons
# (AYON_ADDONS_DIR, this replica's unpacked addons: a cache the installer refills from the database).
RUN groupadd --gid 1000 ayon \
 && useradd --uid 1000 --gid ayon --home-dir /home/ayon --create-home \
        --shell /usr/sbin/nologin ayon \
 && mkdir -p /storage /addons /app \
 && chown ayon:ayon /storage /addons

# A venv works the same on the official image and on a Debian-Python base (PEP 668). It has no
# pip of its own: the base image's pip installs into it, so the runtime image carries no installer.
RUN python -m venv --without-pip /opt/venv

WORKDIR /app

# Dependencies first, from pyproject.toml only (runtime deps, no test extra): this layer is reused
# until pyproject.toml changes.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_TRUSTED_HOST
COPY pyproject.toml ./
RUN set -eu; \
    for v in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST; do \
        eval "[ -n \"\${$v:-}\" ] || unset $v"; \
    done; \
    python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > /tmp/requirements.txt; \
    python -m pip --python /opt/venv/bin/python install --no-cache-dir --no-compile \
        -r /tmp/requirements.txt; \
    rm -f /tmp/requirements.txt; \
    /opt/venv/bin/python -m compileall -q /opt/venv/lib >/dev/null; \
    python -m pip --python /opt/venv/bin/python check
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Then the source. The code runs from /app (root-owned, read-only for the runtime user), so
# `python entrypoint.py`, `python -m setup` and `python -m maintenance` all import it from here.
COPY entrypoint.py pyproject.toml ./
COPY ayon_server/ ./ayon_server/
COPY setup/ ./setup/
COPY maintenance/ ./maintenance/
RUN python -m compileall -q /app >/dev/null
# The build fails here, not the first start, when the runtime dependencies miss something the
# code imports or the app cannot be built (e.g. a template or static directory left out of the
# build context by .dockerignore). Building the app touches neither the database nor Redis.
RUN python -c 'import entrypoint, maintenance.heartbeat, maintenance.scheduler; \
from ayon_server.api.app import create_app; from ayon_server.config import load_settings; \
from maintenance.service import MaintenanceProcedure; \
create_app(load_settings(), run_maintenance=True, maintenance=MaintenanceProcedure())'
ENV PYTHONPATH=/app \
    AYON_STORAGE_DIR=/storage \
    AYON_ADDONS_DIR=/addons \
    AYON_HTTP_LISTEN_ADDRESS=0.0.0.0 \
    AYON_HTTP_LISTEN_PORT=5000

USER 1000:1000
VOLUME ["/storage"]
EXPOSE 5000

# Liveness: the web server's /api/health; for the maintenance scheduler alone (no HTTP endpoint)
# its heartbeat file (python -m maintenance.heartbeat); a setup-only container is healthy while
# it runs.
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request as r; e = os.environ.get; off = lambda n: e(n, 'true').strip().lower() in ('false', '0', 'no', 'off'); from maintenance.heartbeat import main; sys.exit(r.urlopen('http://127.0.0.1:%s/api/health' % e('AYON_HTTP_LISTEN_PORT', '5000'), timeout=4) and 0 if not off('AYON_RUN_SERVER') else 0 if off('AYON_RUN_MAINTENANCE') else main([]))"]

# SIGTERM (docker stop, Kubernetes) makes the entrypoint stop gracefully and exit 0.
STOPSIGNAL SIGTERM
# No arguments: the roles AYON_RUN_* choose. Arguments are run instead, e.g.
#   docker run --rm IMAGE python -m maintenance --list
ENTRYPOINT ["python", "entrypoint.py"]
CMD []
