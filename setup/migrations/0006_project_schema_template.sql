-- The project schema template, whole: every table, index, constraint and trigger of a project's
-- own schema, written out in public.create_project_schema(name). This file is where a project's
-- tables are read; README.md in this directory gives the rule that keeps it so (the newest
-- migration that changes project tables replaces this function with its full text and brings
-- every existing project schema to the same state).
--
-- 0004 wrote the template; 0005 renamed it to create_project_tables() and wrapped it together
-- with add_cleanup_candidates(). Here both bodies become one function again. It creates exactly
-- the objects the wrapper created, so existing project schemas already match and are not
-- touched; the two helpers, which nothing else calls, are dropped.
--
-- Shared by every project and defined elsewhere: public.project_schema_name(name) (the schema is
-- `project_` + the lowercased name, cut at 63 characters) and public.drop_project_schema(name)
-- in 0004; the trigger functions public.cleanup_*() the clean-up triggers below call, in 0005.
--
-- References between entities, thumbnails, links, activities and files are polymorphic (an id,
-- and a type where it is not implied), so they carry no foreign keys and the database cannot
-- cascade them: the maintenance clean-ups do, and the indexes below serve their queries.
-- Only the entity tree itself cascades, the way AYON's does.

-- A project being created has inserted its public.projects row first, so it holds that table's
-- ROW EXCLUSIVE lock until it commits. SHARE waits for those (no project is half-way through the
-- old template when its helpers go) and makes creations that start now wait for this migration
-- and use the new text. Entity writes (FOR KEY SHARE) go on meanwhile.
LOCK TABLE public.projects IN SHARE MODE;

CREATE OR REPLACE FUNCTION public.create_project_schema(project_name TEXT) RETURNS TEXT
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

    ---------------------------------------------------------------------------------------------
    -- Clean-up candidates, fed by statement-level triggers so every write path (REST,
    -- operations, cascades, plain SQL) is covered and clean-ups cost what the garbage costs.
    --   deleted_entities: ids links may point at but no entity has: every deleted entity
    --     (cascaded deletes included) and every link end that named no existing entity when the
    --     link was written. clean_dead_links deletes the links of these ids, then the rows.
    --   thumbnail_candidates: thumbnails that may be unreferenced: every new thumbnail and every
    --     thumbnail an entity stopped referring to (its thumbnail_id changed or it was deleted).
    --     clean_thumbnails checks those past the grace period; `since` is bumped when a
    --     reference is dropped again, so a candidate checked while still referenced stays.
    ---------------------------------------------------------------------------------------------
    EXECUTE format($ddl$
        CREATE TABLE %1$I.deleted_entities (
            entity_id UUID PRIMARY KEY,
            entity_type TEXT NOT NULL,
            deleted_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )
    $ddl$, s);
    EXECUTE format($ddl$
        CREATE TABLE %1$I.thumbnail_candidates (
            thumbnail_id UUID PRIMARY KEY,
            since TIMESTAMPTZ NOT NULL DEFAULT now()
        )
    $ddl$, s);

    -- Every entity table records its deleted rows.
    EXECUTE format($ddl$
        CREATE TRIGGER folders_cleanup_deleted AFTER DELETE ON %1$I.folders
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION public.cleanup_entities_deleted('folder')
    $ddl$, s);
    EXECUTE format($ddl$
        CREATE TRIGGER tasks_cleanup_deleted AFTER DELETE ON %1$I.tasks
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION public.cleanup_entities_deleted('task')
    $ddl$, s);
    EXECUTE format($ddl$
        CREATE TRIGGER products_cleanup_deleted AFTER DELETE ON %1$I.products
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION public.cleanup_entities_deleted('product')
    $ddl$, s);
    EXECUTE format($ddl$
        CREATE TRIGGER versions_cleanup_deleted AFTER DELETE ON %1$I.versions
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION public.cleanup_entities_deleted('version')
    $ddl$, s);
    EXECUTE format($ddl$
        CREATE TRIGGER representations_cleanup_deleted AFTER DELETE ON %1$I.representations
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION public.cleanup_entities_deleted('representation')
    $ddl$, s);
    EXECUTE format($ddl$
        CREATE TRIGGER workfiles_cleanup_deleted AFTER DELETE ON %1$I.workfiles
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION public.cleanup_entities_deleted('workfile')
    $ddl$, s);

    -- The entities that carry a thumbnail record the thumbnails they stop referring to.
    EXECUTE format($ddl$
        CREATE TRIGGER folders_cleanup_thumbnail_changed AFTER UPDATE ON %1$I.folders
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION public.cleanup_thumbnails_dropped()
    $ddl$, s);
    EXECUTE format($ddl$
        CREATE TRIGGER folders_cleanup_thumbnail_deleted AFTER DELETE ON %1$I.folders
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION public.cleanup_thumbnails_dropped()
    $ddl$, s);
    EXECUTE format($ddl$
        CREATE TRIGGER tasks_cleanup_thumbnail_changed AFTER UPDATE ON %1$I.tasks
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION public.cleanup_thumbnails_dropped()
    $ddl$, s);
    EXECUTE format($ddl$
        CREATE TRIGGER tasks_cleanup_thumbnail_deleted AFTER DELETE ON %1$I.tasks
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION public.cleanup_thumbnails_dropped()
    $ddl$, s);
    EXECUTE format($ddl$
        CREATE TRIGGER versions_cleanup_thumbnail_changed AFTER UPDATE ON %1$I.versions
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION public.cleanup_thumbnails_dropped()
    $ddl$, s);
    EXECUTE format($ddl$
        CREATE TRIGGER versions_cleanup_thumbnail_deleted AFTER DELETE ON %1$I.versions
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION public.cleanup_thumbnails_dropped()
    $ddl$, s);
    EXECUTE format($ddl$
        CREATE TRIGGER workfiles_cleanup_thumbnail_changed AFTER UPDATE ON %1$I.workfiles
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION public.cleanup_thumbnails_dropped()
    $ddl$, s);
    EXECUTE format($ddl$
        CREATE TRIGGER workfiles_cleanup_thumbnail_deleted AFTER DELETE ON %1$I.workfiles
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION public.cleanup_thumbnails_dropped()
    $ddl$, s);

    -- New thumbnails are candidates until something refers to them.
    EXECUTE format($ddl$
        CREATE TRIGGER thumbnails_cleanup_added AFTER INSERT ON %1$I.thumbnails
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION public.cleanup_thumbnails_added()
    $ddl$, s);

    -- Links written with an end that names no existing entity record that end.
    EXECUTE format($ddl$
        CREATE TRIGGER links_cleanup_inserted AFTER INSERT ON %1$I.links
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION public.cleanup_links_written()
    $ddl$, s);
    EXECUTE format($ddl$
        CREATE TRIGGER links_cleanup_updated AFTER UPDATE ON %1$I.links
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION public.cleanup_links_written()
    $ddl$, s);

    RETURN s;
END
$fn$;

DROP FUNCTION public.add_cleanup_candidates(TEXT);
DROP FUNCTION public.create_project_tables(TEXT);
