-- Addons, bundles, dependency packages and installers. Each archive is stored once, as a
-- PostgreSQL large object (oid) with its sha256 and size; every server replica unpacks what these
-- tables declare into its own local directories, which are only a cache.

CREATE TABLE public.addons (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    title TEXT,
    description TEXT,
    manifest JSONB NOT NULL DEFAULT '{}'::JSONB,
    archive_oid OID NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    created_by TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);

CREATE TABLE public.bundles (
    name TEXT PRIMARY KEY,
    data JSONB NOT NULL DEFAULT '{}'::JSONB,
    is_production BOOLEAN NOT NULL DEFAULT FALSE,
    is_staging BOOLEAN NOT NULL DEFAULT FALSE,
    is_dev BOOLEAN NOT NULL DEFAULT FALSE,
    active_user TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX bundles_one_production ON public.bundles (is_production) WHERE is_production;
CREATE UNIQUE INDEX bundles_one_staging ON public.bundles (is_staging) WHERE is_staging;

CREATE TABLE public.dependency_packages (
    filename TEXT PRIMARY KEY,
    platform TEXT NOT NULL,
    data JSONB NOT NULL DEFAULT '{}'::JSONB,
    archive_oid OID,
    sha256 TEXT,
    size BIGINT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE public.installers (
    filename TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    platform TEXT NOT NULL,
    data JSONB NOT NULL DEFAULT '{}'::JSONB,
    archive_oid OID,
    sha256 TEXT,
    size BIGINT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE public.replicas (
    id TEXT PRIMARY KEY,
    hostname TEXT NOT NULL,
    version TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX replicas_last_seen ON public.replicas (last_seen);

-- What each replica has materialized locally: kind is 'addon', 'dependencyPackage' or
-- 'installer'; for an addon, name/version are the addon's, for the others name is the filename.
CREATE TABLE public.replica_packages (
    replica_id TEXT NOT NULL REFERENCES public.replicas (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('addon', 'dependencyPackage', 'installer')),
    name TEXT NOT NULL,
    version TEXT NOT NULL DEFAULT '',
    sha256 TEXT,
    status TEXT NOT NULL CHECK (status IN ('installed', 'pending', 'failed')),
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (replica_id, kind, name, version)
);
