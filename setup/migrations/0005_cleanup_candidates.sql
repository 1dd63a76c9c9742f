-- Clean-up candidates: clean_dead_links and clean_thumbnails cost what the garbage costs.
--
-- Each project schema gets two small tables fed by triggers, so every write path (REST,
-- operations, cascades, plain SQL) is covered:
--   deleted_entities(entity_id, entity_type, deleted_at): ids links may point at but no entity
--     has: every deleted entity (statement-level AFTER DELETE triggers with transition tables,
--     cascaded deletes included) and every link end that named no existing entity when the link
--     was written (links written behind the API's back). clean_dead_links deletes the links of
--     a batch of these ids through links(input_id) / links(output_id), then the rows.
--   thumbnail_candidates(thumbnail_id, since): thumbnails that may be unreferenced: every new
--     thumbnail (until referenced) and every thumbnail an entity stopped referring to (its
--     thumbnail_id changed, or the entity was deleted). clean_thumbnails checks those past the
--     grace period (thumbnail age, as before) and drops the candidate either way; `since` is
--     bumped when a reference is dropped again, so a clean-up that checked the thumbnail while
--     it was still referenced keeps the candidate for the next run instead of losing it.
--
-- Existing projects are brought to the same state: the tables and triggers are added, every
-- existing thumbnail becomes a candidate, and the ends of links that are already dead are
-- recorded (a one-time full pass over the links, here, instead of in every clean-up run).

CREATE FUNCTION public.cleanup_entities_deleted() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    EXECUTE format($q$
        INSERT INTO %1$I.deleted_entities (entity_id, entity_type)
        SELECT id, $1 FROM old_rows
        ON CONFLICT DO NOTHING
    $q$, TG_TABLE_SCHEMA) USING TG_ARGV[0];
    RETURN NULL;
END
$fn$;

-- The statement recording the ends of the links in `source` that name no entity of the type
-- their link type implies ("<link_type>|<input_type>|<output_type>"); links of a type that
-- does not parse are clean_links' business. Returned as text: a trigger's transition table is
-- visible only to statements the trigger function itself runs.
CREATE FUNCTION public.cleanup_dead_link_ends_sql(s TEXT, source TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $fn$ SELECT format($q$
    INSERT INTO %1$I.deleted_entities (entity_id, entity_type)
    SELECT e.id, e.entity_type FROM (
        SELECT input_id AS id, split_part(link_type, '|', 2) AS entity_type FROM %2$s
        UNION
        SELECT output_id, split_part(link_type, '|', 3) FROM %2$s
    ) e
    WHERE CASE e.entity_type
        WHEN 'folder' THEN NOT EXISTS (SELECT 1 FROM %1$I.folders x WHERE x.id = e.id)
        WHEN 'task' THEN NOT EXISTS (SELECT 1 FROM %1$I.tasks x WHERE x.id = e.id)
        WHEN 'product' THEN NOT EXISTS (SELECT 1 FROM %1$I.products x WHERE x.id = e.id)
        WHEN 'version' THEN NOT EXISTS (SELECT 1 FROM %1$I.versions x WHERE x.id = e.id)
        WHEN 'representation' THEN
            NOT EXISTS (SELECT 1 FROM %1$I.representations x WHERE x.id = e.id)
        WHEN 'workfile' THEN NOT EXISTS (SELECT 1 FROM %1$I.workfiles x WHERE x.id = e.id)
        ELSE FALSE
    END
    ON CONFLICT DO NOTHING
$q$, s, source) $fn$;

CREATE FUNCTION public.cleanup_links_written() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    EXECUTE public.cleanup_dead_link_ends_sql(TG_TABLE_SCHEMA, 'new_rows');
    RETURN NULL;
END
$fn$;

CREATE FUNCTION public.cleanup_thumbnails_added() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    EXECUTE format($q$
        INSERT INTO %1$I.thumbnail_candidates (thumbnail_id, since)
        SELECT id, clock_timestamp() FROM new_rows
        ON CONFLICT (thumbnail_id) DO UPDATE SET since = excluded.since
    $q$, TG_TABLE_SCHEMA);
    RETURN NULL;
END
$fn$;

-- Thumbnails an entity no longer refers to: the old thumbnail_id of changed and deleted rows.
CREATE FUNCTION public.cleanup_thumbnails_dropped() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    IF TG_OP = 'DELETE' THEN
        EXECUTE format($q$
            INSERT INTO %1$I.thumbnail_candidates (thumbnail_id, since)
            SELECT DISTINCT thumbnail_id, clock_timestamp() FROM old_rows
            WHERE thumbnail_id IS NOT NULL
            ON CONFLICT (thumbnail_id) DO UPDATE SET since = excluded.since
        $q$, TG_TABLE_SCHEMA);
    ELSE
        EXECUTE format($q$
            INSERT INTO %1$I.thumbnail_candidates (thumbnail_id, since)
            SELECT DISTINCT o.thumbnail_id, clock_timestamp()
            FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE o.thumbnail_id IS NOT NULL AND o.thumbnail_id IS DISTINCT FROM n.thumbnail_id
            ON CONFLICT (thumbnail_id) DO UPDATE SET since = excluded.since
        $q$, TG_TABLE_SCHEMA);
    END IF;
    RETURN NULL;
END
$fn$;


-- The candidate tables and their triggers in one project schema (schema name, not project name).
CREATE FUNCTION public.add_cleanup_candidates(s TEXT) RETURNS TEXT
LANGUAGE plpgsql
AS $fn$
DECLARE
    entity_type TEXT;
BEGIN
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

    FOREACH entity_type IN ARRAY
        ARRAY['folder', 'task', 'product', 'version', 'representation', 'workfile']
    LOOP
        EXECUTE format($ddl$
            CREATE TRIGGER %2$I AFTER DELETE ON %1$I.%3$I
            REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION public.cleanup_entities_deleted(%4$L)
        $ddl$, s, entity_type || 's_cleanup_deleted', entity_type || 's', entity_type);
    END LOOP;

    FOREACH entity_type IN ARRAY ARRAY['folder', 'task', 'version', 'workfile'] LOOP
        EXECUTE format($ddl$
            CREATE TRIGGER %2$I AFTER UPDATE ON %1$I.%3$I
            REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION public.cleanup_thumbnails_dropped()
        $ddl$, s, entity_type || 's_cleanup_thumbnail_changed', entity_type || 's');
        EXECUTE format($ddl$
            CREATE TRIGGER %2$I AFTER DELETE ON %1$I.%3$I
            REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION public.cleanup_thumbnails_dropped()
        $ddl$, s, entity_type || 's_cleanup_thumbnail_deleted', entity_type || 's');
    END LOOP;

    EXECUTE format($ddl$
        CREATE TRIGGER thumbnails_cleanup_added AFTER INSERT ON %1$I.thumbnails
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION public.cleanup_thumbnails_added()
    $ddl$, s);
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


-- The template of 0004 plus the candidates. The 0004 body is kept under a new name, so the
-- template is still written once.
ALTER FUNCTION public.create_project_schema(TEXT) RENAME TO create_project_tables;

CREATE FUNCTION public.create_project_schema(project_name TEXT) RETURNS TEXT
LANGUAGE plpgsql
AS $fn$
BEGIN
    RETURN public.add_cleanup_candidates(public.create_project_tables(project_name));
END
$fn$;


-- Existing projects: the same state, with the candidates their data already holds.
DO $do$
DECLARE
    s TEXT;
BEGIN
    FOR s IN SELECT public.project_schema_name(name) FROM public.projects LOOP
        PERFORM public.add_cleanup_candidates(s);
        EXECUTE format($q$
            INSERT INTO %1$I.thumbnail_candidates (thumbnail_id, since)
            SELECT id, created_at FROM %1$I.thumbnails
        $q$, s);
        EXECUTE public.cleanup_dead_link_ends_sql(s, format('%I.links', s));
    END LOOP;
END
$do$;
