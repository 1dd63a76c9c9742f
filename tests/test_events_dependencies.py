"""events.depends_on: a dependency names an existing event and never outlives it, whoever
writes (the server, maintenance, plain SQL), checked once per delete statement."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from ayon_server.runtime import Runtime
from tests.helpers.maintenance import add_event, existing_events
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.usefixtures("clean_tables")


async def test_one_statement_may_delete_an_event_with_its_dependents(runtime: Runtime) -> None:
    parent = await add_event(runtime)
    child = await add_event(runtime, depends_on=parent)
    grandchild = await add_event(runtime, depends_on=child)

    status = await runtime.db.execute(
        "DELETE FROM public.events WHERE id = ANY($1::uuid[])",
        [uuid.UUID(i) for i in (parent, child, grandchild)],
    )

    assert status == "DELETE 3"


async def test_a_delete_leaving_a_dependent_behind_fails_whole(runtime: Runtime) -> None:
    parent = await add_event(runtime)
    loner = await add_event(runtime)
    child = await add_event(runtime, depends_on=parent)

    with pytest.raises(
        asyncpg.ForeignKeyViolationError, match=f"depended on by event {uuid.UUID(child)}"
    ):
        await runtime.db.execute(
            "DELETE FROM public.events WHERE id = ANY($1::uuid[])",
            [uuid.UUID(parent), uuid.UUID(loner)],
        )

    assert await existing_events(runtime.db, [parent, loner, child]) == {parent, loner, child}


async def test_a_dependency_must_name_an_existing_event_on_insert_and_update(
    runtime: Runtime,
) -> None:
    event = await add_event(runtime)
    missing = uuid.uuid4()
    with pytest.raises(asyncpg.ForeignKeyViolationError, match="which does not exist"):
        await runtime.db.execute(
            "INSERT INTO public.events (id, hash, topic, status, depends_on) "
            "VALUES ($1, $2, 'test.child', 'finished', $3)",
            uuid.uuid4(),
            uuid.uuid4().hex,
            missing,
        )
    with pytest.raises(asyncpg.ForeignKeyViolationError, match="which does not exist"):
        await runtime.db.execute(
            "UPDATE public.events SET depends_on = $2 WHERE id = $1", uuid.UUID(event), missing
        )


async def test_the_id_of_an_event_others_depend_on_cannot_change(runtime: Runtime) -> None:
    parent = await add_event(runtime)
    await add_event(runtime, depends_on=parent)
    free = await add_event(runtime)

    with pytest.raises(asyncpg.ForeignKeyViolationError, match="its id cannot change"):
        await runtime.db.execute(
            "UPDATE public.events SET id = $2 WHERE id = $1", uuid.UUID(parent), uuid.uuid4()
        )
    renamed = uuid.uuid4()
    await runtime.db.execute(
        "UPDATE public.events SET id = $2 WHERE id = $1", uuid.UUID(free), renamed
    )
    assert await existing_events(runtime.db, [renamed.hex]) == {renamed.hex}


async def test_a_dependent_inserted_while_its_parent_is_being_deleted_fails_after_it_is(
    runtime: Runtime,
) -> None:
    parent = await add_event(runtime)
    deleter = await asyncpg.connect(runtime.settings.postgres_url)
    writer = await asyncpg.connect(runtime.settings.postgres_url)
    try:
        delete = deleter.transaction()
        await delete.start()
        await deleter.execute("DELETE FROM public.events WHERE id = $1", uuid.UUID(parent))
        insert = asyncio.create_task(
            writer.execute(
                "INSERT INTO public.events (id, hash, topic, status, depends_on) "
                "VALUES ($1, $2, 'test.child', 'finished', $3)",
                uuid.uuid4(),
                uuid.uuid4().hex,
                uuid.UUID(parent),
            )
        )
        writer_pid = writer.get_server_pid()

        async def insert_waits_on_the_parent() -> bool:
            return await runtime.db.fetchval(
                "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", writer_pid
            )

        await wait_until(insert_waits_on_the_parent, what="the insert to wait for the delete")
        await delete.commit()
        with pytest.raises(asyncpg.ForeignKeyViolationError, match="which does not exist"):
            await insert
    finally:
        await deleter.close()
        await writer.close()
    assert await runtime.db.fetchval("SELECT count(*) FROM public.events") == 0


async def test_events_are_not_deleted_in_a_repeatable_read_transaction(runtime: Runtime) -> None:
    """Its snapshot could miss a dependent committed meanwhile: refused, with what to do."""
    event = await add_event(runtime)
    conn = await asyncpg.connect(runtime.settings.postgres_url)
    try:
        with pytest.raises(asyncpg.FeatureNotSupportedError, match="REPEATABLE READ") as raised:
            async with conn.transaction(isolation="repeatable_read"):
                await conn.execute("DELETE FROM public.events WHERE id = $1", uuid.UUID(event))
        assert "READ COMMITTED or SERIALIZABLE" in raised.value.hint
        async with conn.transaction(isolation="serializable"):
            await conn.execute("DELETE FROM public.events WHERE id = $1", uuid.UUID(event))
    finally:
        await conn.close()
    assert await existing_events(runtime.db, [event]) == set()
