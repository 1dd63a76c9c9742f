-- events.depends_on is checked by triggers, once per statement on delete, instead of by a
-- foreign key checked once per deleted row.
--
-- The foreign key ran two lookups for every deleted event (is there another row with that id?
-- does any event depend on it?): about 8 µs a row, three quarters of the cost of any bulk delete
-- of events, clean_events' retention included. The rule is unchanged, and so is the error every
-- writer gets when it breaks it (SQLSTATE 23503, foreign_key_violation), so a release that
-- relied on the foreign key works against this schema as it did:
--   * a row inserted, or its depends_on changed, to name an event: that event must exist; it is
--     locked FOR KEY SHARE, as the foreign key does, so a concurrent delete of it waits for this
--     transaction and then finds the new dependent;
--   * events deleted: after the statement, no event may depend on any of them, checked once
--     for the whole statement (each deleted id looked up in events_depends_on_topic_idx);
--   * an event's id changed while others depend on it: refused (nothing changes ids);
--   * events deleted in a REPEATABLE READ transaction: refused. Its snapshot would not show a
--     dependent committed after it began, which the foreign key's check did see (READ
--     COMMITTED, where the server and maintenance work, and SERIALIZABLE are both safe).

ALTER TABLE public.events DROP CONSTRAINT events_depends_on_fkey;

CREATE FUNCTION public.events_depends_on_exists() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    PERFORM 1 FROM public.events WHERE id = NEW.depends_on FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'event % depends on event %, which does not exist',
            NEW.id, NEW.depends_on
            USING ERRCODE = 'foreign_key_violation', TABLE = 'events',
                  CONSTRAINT = 'events_depends_on_exists';
    END IF;
    RETURN NULL;
END
$fn$;

CREATE TRIGGER events_depends_on_exists
    AFTER INSERT OR UPDATE OF depends_on ON public.events
    FOR EACH ROW WHEN (NEW.depends_on IS NOT NULL)
    EXECUTE FUNCTION public.events_depends_on_exists();

-- Raises when an event in `gone` (ids no longer there) still has a dependent. Each deleted id is
-- looked up in the dependents' index: an id nothing depends on is answered by the index alone,
-- so the cost follows the deleted rows, however many dependents the table holds (a hash join
-- would read every dependent's row for each delete; OFFSET 0 keeps the planner from it).
CREATE FUNCTION public.events_check_no_dependents() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
DECLARE
    parent UUID;
    child UUID;
BEGIN
    IF current_setting('transaction_isolation') = 'repeatable read' THEN
        RAISE EXCEPTION 'events cannot be deleted in a REPEATABLE READ transaction'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Delete them in a READ COMMITTED or SERIALIZABLE transaction.';
    END IF;
    SELECT g.id INTO parent FROM gone g
    WHERE EXISTS (SELECT 1 FROM public.events d WHERE d.depends_on = g.id OFFSET 0)
    LIMIT 1;
    IF FOUND THEN
        SELECT d.id INTO child FROM public.events d WHERE d.depends_on = parent LIMIT 1;
        RAISE EXCEPTION 'event % is still depended on by event %', parent, child
            USING ERRCODE = 'foreign_key_violation', TABLE = 'events',
                  CONSTRAINT = 'events_dependents_kept';
    END IF;
    RETURN NULL;
END
$fn$;

CREATE TRIGGER events_dependents_kept
    AFTER DELETE ON public.events
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT
    EXECUTE FUNCTION public.events_check_no_dependents();

-- Ids are never changed; should one be, its dependents would be left pointing at nothing.
CREATE FUNCTION public.events_id_kept() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    IF EXISTS (SELECT 1 FROM public.events d WHERE d.depends_on = OLD.id) THEN
        RAISE EXCEPTION 'event % is depended on by other events; its id cannot change', OLD.id
            USING ERRCODE = 'foreign_key_violation', TABLE = 'events',
                  CONSTRAINT = 'events_dependents_kept';
    END IF;
    RETURN NULL;
END
$fn$;

CREATE TRIGGER events_id_kept
    AFTER UPDATE OF id ON public.events
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION public.events_id_kept();
