-- Projects: public.projects and the template of every project's own schema (DESIGN §7).
--
-- Each project keeps its entities, thumbnails, links, activities and files in its own schema,
-- created by public.create_project_schema(name) when the project is created and dropped by
-- public.drop_project_schema(name) when it is deleted. The template lives in this function and
-- nowhere else: the server never runs DDL of its own.
--
-- Changing the template later: write a NEW migration that (1) replaces this function with
-- CREATE OR REPLACE FUNCTION public.create_project_schema(...) holding the new template and
-- (2) brings the schema of every existing project to the same state, looping over
-- public.projects and using public.project_schema_name(name). Never edit this file once
-- released: setup refuses an applied migration whose file changed.
--
-- Names: a project name matches ^[a-zA-Z0-9_]{1,64}$ and keeps its case in public.projects.
-- Its schema is `project_` + the LOWERCASED name, as in AYON, so names differing only in case
-- are the same project (a unique index enforces it and lookups ignore case). PostgreSQL cuts
-- identifiers at 63 bytes, so the schema name is cut explicitly at 63 characters; two long names
-- that share a schema name are rejected by the same unique index instead of silently sharing it.
--
-- References between entities, thumbnails, links, activities and files are polymorphic (an id,
-- and a type where it is not implied), so they carry no foreign keys and the database cannot
-- cascade them: the maintenance clean-ups do, and the indexes below serve their queries.
-- Only the entity tree itself cascades, the way AYON's does.

CREATE FUNCTION public.project_schema_name(project_name TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT left('project_' || lower(project_name), 63) $$;

CREATE TABLE public.projects (
    name TEXT PRIMARY KEY CHECK (name ~ '^[a-zA-Z0-9_]{1,64}$'),
    code TEXT NOT NULL CHECK (code ~ '^[a-zA-Z0-9_]{1,64}$'),
    label TEXT,
    library BOOLEAN NOT NULL DEFAULT FALSE,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    -- The project's anatomy lists, AYON's item dicts as given ({"name", "shortName", ...}).
    -- Link types live in the project schema (link_types), where links refer to them.
    folder_types JSONB NOT NULL DEFAULT '[]'::jsonb,
    task_types JSONB NOT NULL DEFAULT '[]'::jsonb,
    statuses JSONB NOT NULL DEFAULT '[]'::jsonb,
    tags JSONB NOT NULL DEFAULT '[]'::jsonb,
    attrib JSONB NOT NULL DEFAULT '{}'::jsonb,
    data JSONB NOT NULL DEFAULT '{}'::jsonb,
    config JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One project per schema: covers case-insensitive name uniqueness and the 63-character cut.
CREATE UNIQUE INDEX projects_schema_name_key ON public.projects (public.project_schema_name(name));
CREATE UNIQUE INDEX projects_code_key ON public.projects (lower(code));


CREATE FUNCTION public.create_project_schema(project_name TEXT) RETURNS TEXT
LANGUAGE plpgsql
AS $fn$
DECLARE
    s TEXT;
BEGIN
    IF project_name IS NULL OR project_name !~ '^[a-zA-Z0-9_]{1,64}$' THEN
        RAISE EXCEPTION 'invalid project name: %', project_name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    s := public.project_schema_name(project_name);
    EXECUTE format('CREATE SCHEMA %I', s);

    ---------------------------------------------------------------------------------------------
    -- Entities: one tree, cascading from folders down, as in AYON. Every entity has id, name
    -- (derived for versions "v001" and workfiles (file name)), label, attrib, data, status,
    -- tags, active, created_by, updated_by, created_at, updated_at.
    ---------------------------------------------------------------------------------------------

    -- `path` is the folder's place in the tree ("shots/sq010/sh010", no leading slash), kept by
    -- the server on create, rename and move. Byte-wise collation so "everything under a/b" is
    -- the index range ['a/b/', 'a/b0').
    EXECUTE format($ddl$
        CREATE TABLE %1$I.folders (
            id UUID PRIMARY KEY,
            name TEXT NOT NULL,
            label TEXT,
            folder_type TEXT NOT NULL,
            parent_id UUID REFERENCES %1$I.folders(id) ON DELETE CASCADE,
            path TEXT COLLATE "C" NOT NULL UNIQUE,
            thumbnail_id UUID,
            attrib JSONB NOT NULL DEFAULT '{}'::jsonb,
            data JSONB NOT NULL DEFAULT '{}'::jsonb,
            status TEXT NOT NULL,
            tags TEXT[] NOT NULL DEFAULT '{}',
            active BOOLEAN NOT NULL DEFAULT TRUE,
            created_by TEXT,
            updated_by TEXT,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            CHECK (parent_id IS DISTINCT FROM id)
        )
    $ddl$, s);
    EXECUTE format('CREATE INDEX folders_parent_id_idx ON %1$I.folders (parent_id)', s);
    EXECUTE format('CREATE INDEX folders_thumbnail_id_idx ON %1$I.folders (thumbnail_id)', s);

    EXECUTE format($ddl$
        CREATE TABLE %1$I.tasks (
            id UUID PRIMARY KEY,
            name TEXT NOT NULL,
            label TEXT,
            task_type TEXT NOT NULL,
            folder_id UUID NOT NULL REFERENCES %1$I.folders(id) ON DELETE CASCADE,
            assignees TEXT[] NOT NULL DEFAULT '{}',
            thumbnail_id UUID,
            attrib JSONB NOT NULL DEFAULT '{}'::jsonb,
            data JSONB NOT NULL DEFAULT '{}'::jsonb,
            status TEXT NOT NULL,
            tags TEXT[] NOT NULL DEFAULT '{}',
            active BOOLEAN NOT NULL DEFAULT TRUE,
            created_by TEXT,
            updated_by TEXT,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            UNIQUE (folder_id, name)
        )
    $ddl$, s);
    EXECUTE format('CREATE INDEX tasks_thumbnail_id_idx ON %1$I.tasks (thumbnail_id)', s);

    EXECUTE format($ddl$
        CREATE TABLE %1$I.products (
            id UUID PRIMARY KEY,
            name TEXT NOT NULL,
            label TEXT,
            product_type TEXT NOT NULL,
            product_base_type TEXT,
            folder_id UUID NOT NULL REFERENCES %1$I.folders(id) ON DELETE CASCADE,
            attrib JSONB NOT NULL DEFAULT '{}'::jsonb,
            data JSONB NOT NULL DEFAULT '{}'::jsonb,
            status TEXT NOT NULL,
            tags TEXT[] NOT NULL DEFAULT '{}',
            active BOOLEAN NOT NULL DEFAULT TRUE,
            created_by TEXT,
            updated_by TEXT,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            UNIQUE (folder_id, name)
        )
    $ddl$, s);
    EXECUTE format('CREATE INDEX products_product_type_idx ON %1$I.products (product_type)', s);

    -- Hero versions have negative numbers, as in AYON.
    EXECUTE format($ddl$
        CREATE TABLE %1$I.versions (
            id UUID PRIMARY KEY,
            name TEXT NOT NULL,
            label TEXT,
            version INTEGER NOT NULL,
            product_id UUID NOT NULL REFERENCES %1$I.products(id) ON DELETE CASCADE,
            task_id UUID REFERENCES %1$I.tasks(id) ON DELETE SET NULL,
            author TEXT,
            thumbnail_id UUID,
            attrib JSONB NOT NULL DEFAULT '{}'::jsonb,
            data JSONB NOT NULL DEFAULT '{}'::jsonb,
            status TEXT NOT NULL,
            tags TEXT[] NOT NULL DEFAULT '{}',
            active BOOLEAN NOT NULL DEFAULT TRUE,
            created_by TEXT,
            updated_by TEXT,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            UNIQUE (product_id, version)
        )
    $ddl$, s);
    EXECUTE format('CREATE INDEX versions_task_id_idx ON %1$I.versions (task_id)', s);
    EXECUTE format('CREATE INDEX versions_thumbnail_id_idx ON %1$I.versions (thumbnail_id)', s);

    EXECUTE format($ddl$
        CREATE TABLE %1$I.representations (
            id UUID PRIMARY KEY,
            name TEXT NOT NULL,
            label TEXT,
            version_id UUID NOT NULL REFERENCES %1$I.versions(id) ON DELETE CASCADE,
            files JSONB NOT NULL DEFAULT '[]'::jsonb,
            traits JSONB,
            attrib JSONB NOT NULL DEFAULT '{}'::jsonb,
            data JSONB NOT NULL DEFAULT '{}'::jsonb,
            status TEXT NOT NULL,
            tags TEXT[] NOT NULL DEFAULT '{}',
            active BOOLEAN NOT NULL DEFAULT TRUE,
            created_by TEXT,
            updated_by TEXT,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            UNIQUE (version_id, name)
        )
    $ddl$, s);

    EXECUTE format($ddl$
        CREATE TABLE %1$I.workfiles (
            id UUID PRIMARY KEY,
            name TEXT NOT NULL,
            label TEXT,
            path TEXT NOT NULL UNIQUE,
            task_id UUID NOT NULL REFERENCES %1$I.tasks(id) ON DELETE CASCADE,
            thumbnail_id UUID,
            attrib JSONB NOT NULL DEFAULT '{}'::jsonb,
            data JSONB NOT NULL DEFAULT '{}'::jsonb,
            status TEXT NOT NULL,
            tags TEXT[] NOT NULL DEFAULT '{}',
            active BOOLEAN NOT NULL DEFAULT TRUE,
            created_by TEXT,
            updated_by TEXT,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )
    $ddl$, s);
    EXECUTE format('CREATE INDEX workfiles_task_id_idx ON %1$I.workfiles (task_id)', s);
    EXECUTE format('CREATE INDEX workfiles_thumbnail_id_idx ON %1$I.workfiles (thumbnail_id)', s);

    ---------------------------------------------------------------------------------------------
    -- Thumbnails: entities point at them by thumbnail_id (no foreign key: clean_thumbnails
    -- deletes the ones nothing points at after a grace period). The bytes are stored inline in
    -- `data` or as a file under AYON_STORAGE_DIR named by `storage_path`.
    ---------------------------------------------------------------------------------------------
    EXECUTE format($ddl$
        CREATE TABLE %1$I.thumbnails (
            id UUID PRIMARY KEY,
            mime TEXT NOT NULL,
            size BIGINT NOT NULL DEFAULT 0,
            data BYTEA,
            storage_path TEXT,
            meta JSONB NOT NULL DEFAULT '{}'::jsonb,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )
    $ddl$, s);
    -- Images are already compressed: store them out of line without trying again.
    EXECUTE format('ALTER TABLE %1$I.thumbnails ALTER COLUMN data SET STORAGE EXTERNAL', s);
    EXECUTE format('CREATE INDEX thumbnails_created_at_idx ON %1$I.thumbnails (created_at)', s);

    ---------------------------------------------------------------------------------------------
    -- Links: link types are named "<link_type>|<input_type>|<output_type>"; a link names its
    -- type in link_type and joins two entities whose types that name implies. No foreign keys:
    -- clean_links removes links of deleted types, clean_dead_links links to deleted entities.
    ---------------------------------------------------------------------------------------------
    EXECUTE format($ddl$
        CREATE TABLE %1$I.link_types (
            name TEXT PRIMARY KEY,
            link_type TEXT NOT NULL,
            input_type TEXT NOT NULL CHECK (input_type IN
                ('folder', 'task', 'product', 'version', 'representation', 'workfile')),
            output_type TEXT NOT NULL CHECK (output_type IN
                ('folder', 'task', 'product', 'version', 'representation', 'workfile')),
            data JSONB NOT NULL DEFAULT '{}'::jsonb,
            CHECK (name = link_type || '|' || input_type || '|' || output_type)
        )
    $ddl$, s);

    EXECUTE format($ddl$
        CREATE TABLE %1$I.links (
            id UUID PRIMARY KEY,
            name TEXT,
            link_type TEXT NOT NULL,
            input_id UUID NOT NULL,
            output_id UUID NOT NULL,
            author TEXT,
            data JSONB NOT NULL DEFAULT '{}'::jsonb,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            CHECK (input_id <> output_id),
            UNIQUE (link_type, input_id, output_id)
        )
    $ddl$, s);
    -- link_type lookups use the unique index above (it leads with link_type).
    EXECUTE format('CREATE INDEX links_input_id_idx ON %1$I.links (input_id)', s);
    EXECUTE format('CREATE INDEX links_output_id_idx ON %1$I.links (output_id)', s);

    ---------------------------------------------------------------------------------------------
    -- Activities (comments and the like) and what they refer to. The `origin` reference names
    -- the entity an activity belongs to; clean_activities removes activities whose origin
    -- entity is gone. A user is referenced by entity_type 'user' and entity_name.
    ---------------------------------------------------------------------------------------------
    EXECUTE format($ddl$
        CREATE TABLE %1$I.activities (
            id UUID PRIMARY KEY,
            activity_type TEXT NOT NULL,
            body TEXT NOT NULL DEFAULT '',
            tags TEXT[] NOT NULL DEFAULT '{}',
            data JSONB NOT NULL DEFAULT '{}'::jsonb,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )
    $ddl$, s);
    EXECUTE format('CREATE INDEX activities_activity_type_idx ON %1$I.activities (activity_type)', s);
    EXECUTE format('CREATE INDEX activities_created_at_idx ON %1$I.activities (created_at)', s);

    EXECUTE format($ddl$
        CREATE TABLE %1$I.activity_references (
            id UUID PRIMARY KEY,
            activity_id UUID NOT NULL REFERENCES %1$I.activities(id) ON DELETE CASCADE,
            reference_type TEXT NOT NULL CHECK (reference_type IN
                ('origin', 'mention', 'author', 'relation', 'watching')),
            entity_type TEXT NOT NULL,
            entity_id UUID,
            entity_name TEXT,
            active BOOLEAN NOT NULL DEFAULT TRUE,
            data JSONB NOT NULL DEFAULT '{}'::jsonb,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            CHECK (entity_id IS NOT NULL OR entity_name IS NOT NULL),
            UNIQUE NULLS NOT DISTINCT
                (activity_id, reference_type, entity_type, entity_id, entity_name)
        )
    $ddl$, s);
    -- activity_id lookups use the unique index above (it leads with activity_id).
    EXECUTE format($ddl$
        CREATE INDEX activity_references_entity_idx
        ON %1$I.activity_references (entity_type, entity_id)
    $ddl$, s);
    EXECUTE format($ddl$
        CREATE INDEX activity_references_reference_type_idx
        ON %1$I.activity_references (reference_type)
    $ddl$, s);

    -- Files attached to activities. activity_id has no foreign key on purpose: a file uploaded
    -- before its activity exists, or outliving it, is removed by clean_files after the grace
    -- period together with its stored bytes.
    EXECUTE format($ddl$
        CREATE TABLE %1$I.files (
            id UUID PRIMARY KEY,
            activity_id UUID,
            name TEXT NOT NULL,
            size BIGINT NOT NULL DEFAULT 0,
            mime TEXT NOT NULL DEFAULT 'application/octet-stream',
            author TEXT,
            data JSONB NOT NULL DEFAULT '{}'::jsonb,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )
    $ddl$, s);
    EXECUTE format('CREATE INDEX files_activity_id_idx ON %1$I.files (activity_id)', s);
    EXECUTE format('CREATE INDEX files_created_at_idx ON %1$I.files (created_at)', s);

    RETURN s;
END
$fn$;


CREATE FUNCTION public.drop_project_schema(project_name TEXT) RETURNS TEXT
LANGUAGE plpgsql
-- Without this, DROP ... CASCADE sends a notice listing every table it drops.
SET client_min_messages = warning
AS $fn$
DECLARE
    s TEXT;
BEGIN
    IF project_name IS NULL OR project_name !~ '^[a-zA-Z0-9_]{1,64}$' THEN
        RAISE EXCEPTION 'invalid project name: %', project_name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    s := public.project_schema_name(project_name);
    EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', s);
    RETURN s;
END
$fn$;
