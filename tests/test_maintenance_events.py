"""clean_events: retention without ever breaking a depends_on chain or an active event."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import asyncpg
import pytest

from ayon_server.maintenance.config import save_config
from ayon_server.maintenance.runs import MAINTENANCE_TOPIC
from ayon_server.runtime import Runtime
from maintenance.runner import MaintenanceRunner
from tests.helpers.maintenance import add_event, existing_events
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.usefixtures("clean_tables")

OLD = 100  # days: past every retention used here


async def clean_events(runtime: Runtime, *, dry_run: bool = False) -> dict[str, Any]:
    result = await MaintenanceRunner(runtime).run(["clean_events"], dry_run=dry_run)
    (task,) = result.tasks
    assert task.status == "finished", task.error
    return task.result


async def test_an_expired_chain_whose_newest_dependent_is_kept_keeps_all_its_ancestors(
    runtime: Runtime,
) -> None:
    await save_config(runtime, {"eventRetentionDays": 30, "batchSize": 1})
    root = await add_event(runtime, age_days=OLD)
    middle = await add_event(runtime, age_days=OLD, depends_on=root)
    recent_leaf = await add_event(runtime, age_days=1, depends_on=middle)

    result = await clean_events(runtime)

    assert result["deleted"] == 0
    assert await existing_events(runtime.db, [root, middle, recent_leaf]) == {
        root,
        middle,
        recent_leaf,
    }


async def test_a_fully_expired_chain_goes_entirely_leaf_first(runtime: Runtime) -> None:
    await save_config(runtime, {"eventRetentionDays": 30, "batchSize": 1})
    chain = [await add_event(runtime, age_days=OLD)]
    for _ in range(4):
        chain.append(await add_event(runtime, age_days=OLD, depends_on=chain[-1]))

    result = await clean_events(runtime)

    assert result["deleted"] == 5
    assert await existing_events(runtime.db, chain) == set()


async def test_pending_and_in_progress_events_are_kept_with_their_ancestors(
    runtime: Runtime,
) -> None:
    await save_config(runtime, {"eventRetentionDays": 30})
    pending = await add_event(runtime, age_days=OLD, status="pending")
    in_progress = await add_event(runtime, age_days=OLD, status="in_progress")
    parent_of_pending = await add_event(runtime, age_days=OLD)
    pending_child = await add_event(
        runtime, age_days=OLD, status="pending", depends_on=parent_of_pending
    )
    failed = await add_event(runtime, age_days=OLD, status="failed")

    result = await clean_events(runtime)

    kept = [pending, in_progress, parent_of_pending, pending_child]
    assert await existing_events(runtime.db, [*kept, failed]) == set(kept)
    assert result["deleted"] == 1


async def test_maintenance_history_follows_its_own_retention(runtime: Runtime) -> None:
    await save_config(runtime, {"eventRetentionDays": 1, "maintenanceHistoryDays": 90})
    recent_run = await add_event(runtime, topic=MAINTENANCE_TOPIC, age_days=60)
    old_run = await add_event(runtime, topic=MAINTENANCE_TOPIC, age_days=120)
    other = await add_event(runtime, age_days=2)

    result = await clean_events(runtime)

    assert await existing_events(runtime.db, [recent_run, old_run, other]) == {recent_run}
    assert (result["deleted"], result["maintenanceHistoryDeleted"]) == (1, 1)


async def test_with_retention_off_only_old_maintenance_history_goes(runtime: Runtime) -> None:
    ancient = await add_event(runtime, age_days=3650)
    old_run = await add_event(runtime, topic=MAINTENANCE_TOPIC, age_days=120)

    result = await clean_events(runtime)

    assert await existing_events(runtime.db, [ancient, old_run]) == {ancient}
    assert result == {"deleted": 0, "maintenanceHistoryDeleted": 1, "eventRetention": "off"}


async def test_dry_run_counts_chains_exactly_as_the_real_run_deletes_them(
    runtime: Runtime,
) -> None:
    await save_config(runtime, {"eventRetentionDays": 30, "batchSize": 2})
    ids = []
    for depth in range(3):  # three chains of growing length, all expired: 1 + 2 + 3 go
        previous = None
        for _ in range(depth + 1):
            previous = await add_event(runtime, age_days=OLD, depends_on=previous)
            ids.append(previous)
    blocked_root = await add_event(runtime, age_days=OLD)
    blocked_middle = await add_event(runtime, age_days=OLD, depends_on=blocked_root)
    await add_event(runtime, age_days=OLD, status="in_progress", depends_on=blocked_middle)
    await add_event(runtime, topic=MAINTENANCE_TOPIC, age_days=200)
    total_before = await runtime.db.fetchval("SELECT count(*) FROM public.events")

    dry = await clean_events(runtime, dry_run=True)

    # The dry run wrote its own run event and deleted nothing.
    assert await runtime.db.fetchval("SELECT count(*) FROM public.events") == total_before + 1
    real = await clean_events(runtime)
    assert dry == real == {"deleted": 6, "maintenanceHistoryDeleted": 1}
    assert await existing_events(runtime.db, ids) == set()
    assert await existing_events(runtime.db, [blocked_root, blocked_middle]) == {
        blocked_root,
        blocked_middle,
    }


async def test_a_dependent_inserted_during_a_batch_makes_it_retry_and_keeps_its_parent(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    await save_config(runtime, {"eventRetentionDays": 30})
    parent = await add_event(runtime, age_days=OLD)
    others = [await add_event(runtime, age_days=OLD) for _ in range(3)]
    writer = await asyncpg.connect(runtime.settings.postgres_url)
    try:
        # Another client inserts a dependent of `parent` and has not committed yet: the
        # maintenance batch has to wait for it, then finds the new reference.
        insert = writer.transaction()
        await insert.start()
        child = uuid.uuid4()
        await writer.execute(
            "INSERT INTO public.events (id, hash, topic, status, depends_on) "
            "VALUES ($1, $2, 'test.child', 'finished', $3)",
            child,
            child.hex,
            uuid.UUID(parent),
        )
        caplog.set_level(logging.INFO, logger="maintenance.batching")
        run = asyncio.create_task(clean_events(runtime))

        async def batch_waits_for_the_writer() -> bool:
            return await runtime.db.fetchval(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query LIKE '%DELETE FROM public.events%')"
            )

        await wait_until(batch_waits_for_the_writer, what="the delete batch to wait on the lock")
        await insert.commit()
        result = await run
    finally:
        await writer.close()

    assert "batch rolled back" in caplog.text
    assert await existing_events(runtime.db, [parent, child.hex, *others]) == {parent, child.hex}
    assert result["deleted"] == 3


async def test_one_forward_walk_handles_chains_across_batches_in_any_age_order(
    runtime: Runtime,
) -> None:
    """The walk meets events oldest first, a batch at a time: a chain whose members fall in
    different batches, or whose dependent is older than its parent, still goes whole, and run
    history interleaved with the other events follows its own retention."""
    await save_config(
        runtime, {"eventRetentionDays": 30, "maintenanceHistoryDays": 150, "batchSize": 2}
    )
    parent = await add_event(runtime, age_days=OLD + 5)
    spread = [parent]
    for age in (OLD + 3, OLD + 1):  # later batches
        spread.append(await add_event(runtime, age_days=age, depends_on=spread[-1]))
    young_parent = await add_event(runtime, age_days=OLD)
    older_child = await add_event(runtime, age_days=OLD + 10, depends_on=young_parent)
    fillers = [await add_event(runtime, age_days=OLD + 2) for _ in range(3)]
    kept_history = await add_event(runtime, topic=MAINTENANCE_TOPIC, age_days=OLD + 4)
    old_history = await add_event(runtime, topic=MAINTENANCE_TOPIC, age_days=200)
    recent = await add_event(runtime, age_days=1)

    result = await clean_events(runtime)

    everything = [*spread, young_parent, older_child, *fillers, kept_history, old_history, recent]
    assert await existing_events(runtime.db, everything) == {kept_history, recent}
    assert (result["deleted"], result["maintenanceHistoryDeleted"]) == (8, 1)


async def test_more_events_at_one_instant_than_a_batch_holds_all_go(runtime: Runtime) -> None:
    """A batch ends where its size is reached, at an instant; events made in one transaction
    share theirs, so a batch takes that instant whole rather than stop inside it."""
    await save_config(runtime, {"eventRetentionDays": 30, "batchSize": 2})
    together = [await add_event(runtime) for _ in range(7)]
    before, after = await add_event(runtime, age_days=OLD + 1), await add_event(runtime, age_days=1)
    await runtime.db.execute(
        "UPDATE public.events SET created_at = now() - interval '100 days' WHERE id = ANY($1)",
        [uuid.UUID(i) for i in together],
    )

    result = await clean_events(runtime)

    assert await existing_events(runtime.db, [*together, before, after]) == {after}
    assert result["deleted"] == 8
