-- When each activity's origin went, kept where clean_activities can read it by time.
--
-- clean_activities used to find when an origin entity disappeared by searching public.events
-- for its `entity.<type>.deleted` event, for every origin reference whose entity is gone, on
-- every run: a cost that grows with the whole event history. Each project schema now gets
-- gone_origins(reference_id, gone_at), fed by triggers on every write path:
--   * an entity deleted (REST, operations, cascades, plain SQL): its origin references, at the
--     time of the deletion (public.cleanup_entities_deleted, shared by every project, does it
--     next to recording the entity in deleted_entities);
--   * an origin reference written (inserted or changed) naming no existing entity: at the
--     time of the write (public.cleanup_origins_written).
-- A row goes with its reference (ON DELETE CASCADE), so deleting the activity removes it.
--
-- Existing projects are brought to the same state: the table, its index and the triggers are
-- added, and every origin reference whose entity is already gone is recorded once, with the
-- time the previous release used: its entity's newest deleted event, else the originGoneAt
-- stamp a previous run left in its data, else the deletion recorded in deleted_entities, else
-- now. That one pass over the events is here, instead of in every clean-up run.

-- See 0006: creations wait for this migration and use the new template.
LOCK TABLE public.projects IN SHARE MODE;

-- The condition "entity `id` of type `entity_type` does not exist in schema s", as SQL text.
CREATE FUNCTION public.cleanup_entity_missing_sql(s TEXT, entity_type TEXT, id TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $fn$ SELECT format($q$
    CASE %2$s
        WHEN 'folder' THEN NOT EXISTS (SELECT 1 FROM %1$I.folders x WHERE x.id = %3$s)
        WHEN 'task' THEN NOT EXISTS (SELECT 1 FROM %1$I.tasks x WHERE x.id = %3$s)
        WHEN 'product' THEN NOT EXISTS (SELECT 1 FROM %1$I.products x WHERE x.id = %3$s)
        WHEN 'version' THEN NOT EXISTS (SELECT 1 FROM %1$I.versions x WHERE x.id = %3$s)
        WHEN 'representation' THEN
            NOT EXISTS (SELECT 1 FROM %1$I.representations x WHERE x.id = %3$s)
        WHEN 'workfile' THEN NOT EXISTS (SELECT 1 FROM %1$I.workfiles x WHERE x.id = %3$s)
        ELSE FALSE
    END
$q$, s, entity_type, id) $fn$;

CREATE OR REPLACE FUNCTION public.cleanup_entities_deleted() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    EXECUTE format($q$
        INSERT INTO %1$I.deleted_entities (entity_id, entity_type)
        SELECT id, $1 FROM old_rows
        ON CONFLICT DO NOTHING
    $q$, TG_TABLE_SCHEMA) USING TG_ARGV[0];
    EXECUTE format($q$
        INSERT INTO %1$I.gone_origins (reference_id)
        SELECT r.id FROM old_rows o
        JOIN %1$I.activity_references r ON r.entity_type = $1 AND r.entity_id = o.id
        WHERE r.reference_type = 'origin'
        ON CONFLICT DO NOTHING
    $q$, TG_TABLE_SCHEMA) USING TG_ARGV[0];
    RETURN NULL;
END
$fn$;

CREATE FUNCTION public.cleanup_origins_written() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    EXECUTE format($q$
        INSERT INTO %1$I.gone_origins (reference_id)
        SELECT n.id FROM new_rows n
        WHERE n.reference_type = 'origin' AND %2$s
        ON CONFLICT DO NOTHING
    $q$, TG_TABLE_SCHEMA,
        public.cleanup_entity_missing_sql(TG_TABLE_SCHEMA, 'n.entity_type', 'n.entity_id'));
    RETURN NULL;
END
$fn$;

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
    --   gone_origins: origin references of activities whose entity is gone, with when it went:
    --     the entity's deletion (cascades included), or the write of an origin that named no
    --     existing entity. clean_activities deletes the activities of those past the grace
    --     period, through the index on gone_at, without reading events or every reference.
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
    EXECUTE format($ddl$
        CREATE TABLE %1$I.gone_origins (
            reference_id UUID PRIMARY KEY
                REFERENCES %1$I.activity_references(id) ON DELETE CASCADE,
            gone_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )
    $ddl$, s);
    EXECUTE format('CREATE INDEX gone_origins_gone_at_idx ON %1$I.gone_origins (gone_at)', s);

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

    -- Origin references written naming no existing entity record themselves as gone.
    EXECUTE format($ddl$
        CREATE TRIGGER activity_references_cleanup_inserted AFTER INSERT ON %1$I.activity_references
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION public.cleanup_origins_written()
    $ddl$, s);
    EXECUTE format($ddl$
        CREATE TRIGGER activity_references_cleanup_updated AFTER UPDATE ON %1$I.activity_references
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION public.cleanup_origins_written()
    $ddl$, s);

    RETURN s;
END
$fn$;

-- Existing projects: the same state, with the origins already gone.
DO $do$
DECLARE
    p TEXT;
    s TEXT;
BEGIN
    FOR p, s IN SELECT name, public.project_schema_name(name) FROM public.projects LOOP
        EXECUTE format($ddl$
            CREATE TABLE %1$I.gone_origins (
                reference_id UUID PRIMARY KEY
                    REFERENCES %1$I.activity_references(id) ON DELETE CASCADE,
                gone_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )
        $ddl$, s);
        EXECUTE format('CREATE INDEX gone_origins_gone_at_idx ON %1$I.gone_origins (gone_at)', s);
        EXECUTE format($ddl$
            CREATE TRIGGER activity_references_cleanup_inserted AFTER INSERT ON %1$I.activity_references
            REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION public.cleanup_origins_written()
        $ddl$, s);
        EXECUTE format($ddl$
            CREATE TRIGGER activity_references_cleanup_updated AFTER UPDATE ON %1$I.activity_references
            REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION public.cleanup_origins_written()
        $ddl$, s);
        EXECUTE format($q$
            INSERT INTO %1$I.gone_origins (reference_id, gone_at)
            SELECT r.id, coalesce(
                ev.gone_at, (r.data->>'originGoneAt')::timestamptz, d.deleted_at, now()
            )
            FROM %1$I.activity_references r
            LEFT JOIN (
                SELECT split_part(topic, '.', 2) AS entity_type,
                       summary->>'entityId' AS entity_id, max(created_at) AS gone_at
                FROM public.events
                WHERE project_name = $1 AND topic LIKE 'entity.%%.deleted'
                GROUP BY 1, 2
            ) ev ON ev.entity_type = r.entity_type
                AND ev.entity_id = replace(r.entity_id::text, '-', '')
            LEFT JOIN %1$I.deleted_entities d ON d.entity_id = r.entity_id
            WHERE r.reference_type = 'origin' AND %2$s
        $q$, s, public.cleanup_entity_missing_sql(s, 'r.entity_type', 'r.entity_id')) USING p;
    END LOOP;
END
$do$;
