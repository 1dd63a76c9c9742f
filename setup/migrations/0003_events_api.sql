-- Indexes for the events API: the web UI's list and enroll.

-- GET /api/events pages newest first on (created_at, id); this index serves that order and the
-- keyset condition, and everything the created_at index it replaces did.
CREATE INDEX events_created_at_id_idx ON public.events (created_at, id);
DROP INDEX public.events_created_at_idx;

-- Jobs still pending or in progress, by topic: sequential enroll asks "does any job of this
-- target topic run?", the action invalidator looks for pending action.launcher events.
CREATE INDEX events_active_topic_idx ON public.events (topic, created_at)
    WHERE status IN ('pending', 'in_progress');

-- Enroll looks up the job of a source event by (depends_on, topic).
CREATE INDEX events_depends_on_topic_idx ON public.events (depends_on, topic)
    WHERE depends_on IS NOT NULL;
DROP INDEX public.events_depends_on_idx;

-- Enroll's source events: finished ones, within the ignoreOlderThan window (3 days by default),
-- so a long event history is not scanned on every poll.
CREATE INDEX events_finished_updated_at_idx ON public.events (updated_at)
    WHERE status = 'finished';
