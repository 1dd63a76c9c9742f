"""The maintenance configuration: CONTRACT defaults, merging patches, rejecting bad values."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from ayon_server.maintenance.catalog import TASK_NAMES
from ayon_server.maintenance.config import (
    CONFIG_CHANNEL,
    InvalidMaintenanceConfig,
    MaintenanceConfig,
    cron_trigger,
    load_config,
    save_config,
)
from ayon_server.runtime import Runtime

pytestmark = pytest.mark.usefixtures("clean_tables")

CONTRACT_DEFAULTS = {
    "enabled": True,
    "schedule": "0 3 * * *",
    "timezone": "UTC",
    "tasks": {name: {"enabled": True} for name in TASK_NAMES},
    "logRetentionDays": 7,
    "eventRetentionDays": None,
    "maintenanceHistoryDays": 90,
    "thumbnailGraceHours": 24,
    "activityGraceDays": 10,
    "fileGraceHours": 24,
    "siteRetentionDays": 180,
    "metricsRetentionDays": 365,
    "metricsPushUrl": None,
    "updateCatalogUrl": None,
    "vacuumMode": "analyze",
    "batchSize": 5000,
    "taskTimeoutMinutes": 60,
    "windowMinutes": None,
    "batchPauseMs": 0,
    "replicaRetentionHours": 24,
}


async def stored_value(runtime: Runtime) -> object:
    return await runtime.db.fetchval("SELECT value FROM public.config WHERE key = 'maintenance'")


async def test_an_empty_database_yields_exactly_the_contract_defaults(runtime: Runtime) -> None:
    config = await load_config(runtime.db)

    assert config.model_dump(mode="json", by_alias=True) == CONTRACT_DEFAULTS
    assert list(config.tasks) == list(TASK_NAMES)


async def test_missing_keys_take_their_defaults(runtime: Runtime) -> None:
    await runtime.db.execute(
        "INSERT INTO public.config (key, value) VALUES ('maintenance', $1)",
        {"logRetentionDays": 14, "tasks": {"vacuum_db": {"enabled": False}}},
    )

    config = await load_config(runtime.db)

    assert config.log_retention_days == 14
    assert config.batch_size == 5000
    assert not config.task_enabled("vacuum_db")
    assert all(config.task_enabled(name) for name in TASK_NAMES if name != "vacuum_db")


async def test_save_config_merges_the_patch_and_announces_it_on_redis(runtime: Runtime) -> None:
    pubsub = runtime.redis.pubsub()
    await runtime.redis.subscribe(pubsub, CONFIG_CHANNEL)
    try:
        await save_config(
            runtime, {"logRetentionDays": 30, "tasks": {"clean_logs": {"enabled": False}}}
        )
        config = await save_config(
            runtime, {"schedule": "30 4 * * 1-5", "tasks": {"vacuum_db": {"enabled": False}}}
        )
        message = None
        for _ in range(20):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            if message is not None:
                break
    finally:
        await pubsub.aclose()

    assert config.log_retention_days == 30
    assert config.schedule == "30 4 * * 1-5"
    assert not config.task_enabled("clean_logs") and not config.task_enabled("vacuum_db")
    assert await load_config(runtime.db) == config
    assert message is not None
    assert json.loads(message["data"])["logRetentionDays"] == 30
    # Only what someone set is stored, so untouched keys keep following their defaults.
    assert set(await stored_value(runtime)) == {"logRetentionDays", "tasks", "schedule"}


async def test_snake_case_and_camel_case_patches_mean_the_same_setting(runtime: Runtime) -> None:
    await save_config(runtime, {"batchSize": 10})
    config = await save_config(runtime, {"batch_size": 20})

    assert config.batch_size == 20
    assert await stored_value(runtime) == {"batchSize": 20}


@pytest.mark.parametrize(
    ("patch", "named"),
    [
        ({"schedule": "0 3 * *"}, "schedule"),
        ({"schedule": "61 3 * * *"}, "schedule"),
        ({"schedule": "every night"}, "schedule"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"retentionDays": 3}, "retentionDays"),
        ({"tasks": {"clean_everything": {"enabled": True}}}, "clean_everything"),
        ({"tasks": {"clean_logs": {"enabled": "yes"}}}, "tasks.clean_logs"),
        ({"logRetentionDays": 0}, "logRetentionDays"),
        ({"logRetentionDays": "7"}, "logRetentionDays"),
        ({"eventRetentionDays": 0}, "eventRetentionDays"),
        ({"batchSize": 0}, "batchSize"),
        ({"batchSize": 100_001}, "batchSize"),
        ({"taskTimeoutMinutes": 0}, "taskTimeoutMinutes"),
        ({"schedule": "0 0 30 2 *"}, "schedule"),
        ({"windowMinutes": 0}, "windowMinutes"),
        ({"windowMinutes": "30"}, "windowMinutes"),
        ({"batchPauseMs": -1}, "batchPauseMs"),
        ({"batchPauseMs": 60_001}, "batchPauseMs"),
        ({"batchPauseMs": 1.5}, "batchPauseMs"),
        ({"vacuumMode": "sometimes"}, "vacuumMode"),
        ({"metricsPushUrl": "ftp://example.com"}, "metricsPushUrl"),
        ({"enabled": None}, "enabled"),
    ],
)
async def test_an_invalid_patch_is_rejected_with_a_sentence_naming_the_key_and_changes_nothing(
    runtime: Runtime, patch: dict, named: str
) -> None:
    await save_config(runtime, {"logRetentionDays": 9})

    with pytest.raises(InvalidMaintenanceConfig) as caught:
        await save_config(runtime, patch)

    message = str(caught.value)
    assert named in message
    assert "\n" not in message
    assert await stored_value(runtime) == {"logRetentionDays": 9}


async def test_a_patch_that_is_not_an_object_is_rejected(runtime: Runtime) -> None:
    with pytest.raises(InvalidMaintenanceConfig, match="JSON object"):
        await save_config(runtime, ["enabled"])  # type: ignore[arg-type]


async def test_a_broken_stored_value_is_reported_not_silently_replaced(runtime: Runtime) -> None:
    await runtime.db.execute(
        "INSERT INTO public.config (key, value) VALUES ('maintenance', $1)", {"schedule": "nope"}
    )

    with pytest.raises(InvalidMaintenanceConfig, match="schedule"):
        await load_config(runtime.db)


async def test_concurrent_patches_of_different_keys_both_stick(runtime: Runtime) -> None:
    await asyncio.gather(
        save_config(runtime, {"logRetentionDays": 11}),
        save_config(runtime, {"batchSize": 77}),
    )

    config = await load_config(runtime.db)
    assert (config.log_retention_days, config.batch_size) == (11, 77)


def test_fractional_timeouts_are_allowed_and_whole_ones_stay_integers() -> None:
    assert MaintenanceConfig(task_timeout_minutes=0.5).task_timeout_minutes == 0.5
    assert MaintenanceConfig().model_dump(by_alias=True)["taskTimeoutMinutes"] == 60


@pytest.mark.parametrize(
    ("schedule", "weekdays"),
    [
        ("0 3 * * 1-5", {"Mon", "Tue", "Wed", "Thu", "Fri"}),
        ("0 3 * * 0", {"Sun"}),
        ("0 3 * * 7", {"Sun"}),
        ("0 3 * * 0,6", {"Sat", "Sun"}),
        ("0 3 * * */2", {"Sun", "Tue", "Thu", "Sat"}),
        ("0 3 * * sat,sun", {"Sat", "Sun"}),
        ("0 3 * * *", {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}),
    ],
)
def test_day_of_week_numbers_follow_standard_cron_with_sunday_as_zero(
    schedule: str, weekdays: set[str]
) -> None:
    trigger = cron_trigger(schedule, "UTC")
    fire, seen = None, set()
    for _ in range(14):
        fire = trigger.get_next_fire_time(fire, fire or datetime(2026, 11, 29, tzinfo=UTC))
        seen.add(fire.strftime("%a"))

    assert seen == weekdays
