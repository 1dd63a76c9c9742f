"""The maintenance configuration (a fixed contract): one JSON object at key `maintenance`.

Admins change it while the server runs, so it lives in public.config rather than the environment.
A missing key takes its default; an unknown key or a bad value is rejected with one sentence that
names the key, which the API turns into a 400.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
)
from pydantic.alias_generators import to_camel
from redis.exceptions import RedisError

from ayon_server.lib.postgres import Postgres
from ayon_server.maintenance.catalog import TASK_NAMES
from ayon_server.runtime import Runtime

log = logging.getLogger(__name__)

CONFIG_KEY = "maintenance"
# Redis channel (prefixed by the Redis wrapper) announcing a saved configuration to every replica.
CONFIG_CHANNEL = "maintenance.config"

# Standard cron numbers weekdays from Sunday (0 and 7); APScheduler 3 from Monday (0).
_CRON_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_DAYS = 36500
MAX_BATCH_PAUSE_MS = 60_000
_HTTP_URL_RE = re.compile(r"^https?://[^\s/]+\S*$")


class InvalidMaintenanceConfig(ValueError):
    """The configuration (a patch or the stored value) is invalid; the message names the key."""


class TaskToggle(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    enabled: bool = True


def _all_tasks_enabled() -> dict[str, TaskToggle]:
    return {name: TaskToggle() for name in TASK_NAMES}


class MaintenanceConfig(BaseModel):
    """Validated maintenance settings; strict, so "7" or "yes" is an error rather than a guess."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=True
    )

    enabled: bool = True
    schedule: str = "0 3 * * *"
    timezone: str = "UTC"
    tasks: dict[str, TaskToggle] = Field(default_factory=_all_tasks_enabled)
    log_retention_days: int = Field(default=7, ge=1, le=MAX_DAYS)
    event_retention_days: int | None = Field(default=None, ge=1, le=MAX_DAYS)
    maintenance_history_days: int = Field(default=90, ge=1, le=MAX_DAYS)
    thumbnail_grace_hours: int = Field(default=24, ge=1, le=MAX_DAYS * 24)
    activity_grace_days: int = Field(default=10, ge=1, le=MAX_DAYS)
    file_grace_hours: int = Field(default=24, ge=1, le=MAX_DAYS * 24)
    site_retention_days: int = Field(default=180, ge=1, le=MAX_DAYS)
    metrics_retention_days: int = Field(default=365, ge=1, le=MAX_DAYS)
    metrics_push_url: str | None = None
    update_catalog_url: str | None = None
    vacuum_mode: Literal["analyze", "full", "off"] = "analyze"
    batch_size: int = Field(default=5000, ge=1, le=100_000)
    # Minutes, fractions allowed (0.5 = 30 s); at most a day.
    task_timeout_minutes: float = Field(default=60, gt=0, le=1440)
    # A run stops starting tasks this many minutes after it began (fractions allowed); None: never.
    window_minutes: float | None = Field(default=None, gt=0, le=1440)
    # Slept between two batches of every task, so the server's own queries get through.
    batch_pause_ms: int = Field(default=0, ge=0, le=MAX_BATCH_PAUSE_MS)
    # clean_replicas: a replica not seen for this long is gone (a live one heartbeats every 30 s).
    replica_retention_hours: int = Field(default=24, ge=1, le=MAX_DAYS * 24)

    @field_validator("schedule")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        try:
            trigger = cron_trigger(value, "UTC")
        except ValueError as exc:
            raise ValueError(f"not a valid 5-field cron expression ({exc})") from None
        # APScheduler searches up to the year 9999, so None means no date ever matches (30 Feb);
        # 29 Feb is found in the next leap year.
        if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
            raise ValueError("never fires: no date matches it")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not a known IANA time zone") from None
        return value

    @field_validator("metrics_push_url", "update_catalog_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not _HTTP_URL_RE.match(value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, value: dict[str, TaskToggle]) -> dict[str, TaskToggle]:
        unknown = sorted(set(value) - set(TASK_NAMES))
        if unknown:
            raise ValueError(
                f"unknown task {unknown[0]!r}; valid tasks are {', '.join(TASK_NAMES)}"
            )
        # Every task appears, in the contract order; a task not mentioned is enabled.
        return {name: value.get(name, TaskToggle()) for name in TASK_NAMES}

    @field_serializer("task_timeout_minutes", "window_minutes")
    def _whole_minutes_as_int(self, value: float | None) -> int | float | None:
        if value is None:
            return None
        return int(value) if float(value).is_integer() else value

    def task_enabled(self, name: str) -> bool:
        return self.tasks[name].enabled


def next_run_at(config: MaintenanceConfig, now: datetime | None = None) -> datetime | None:
    """When the schedule fires next; None only while disabled (a schedule that never fires is
    rejected when the configuration is validated)."""
    if not config.enabled:
        return None
    return cron_trigger(config.schedule, config.timezone).get_next_fire_time(
        None, now or datetime.now(UTC)
    )


def preview_schedule(
    schedule: str, timezone: str, count: int, now: datetime | None = None
) -> list[datetime]:
    """The next `count` fire times of a schedule, validated as a saved one would be (so the
    preview and a save agree); InvalidMaintenanceConfig names what is wrong."""
    config = validate_config({"schedule": schedule, "timezone": timezone})
    trigger = cron_trigger(config.schedule, config.timezone)
    times: list[datetime] = []
    previous: datetime | None = None
    moment = now or datetime.now(UTC)
    while len(times) < count:
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None:
            break
        times.append(fire)
        previous, moment = fire, fire + timedelta(microseconds=1)
    return times


def cron_trigger(schedule: str, timezone: str) -> CronTrigger:
    """APScheduler trigger for a standard 5-field cron expression in an IANA time zone.

    APScheduler 3 reads day-of-week numbers Monday-first (documented in from_crontab), so numeric
    weekdays are rewritten as names first: `1-5` stays Monday to Friday as in every other cron.
    """
    fields = schedule.split()
    if len(fields) == 5:
        fields[4] = _weekday_names(fields[4])
    return CronTrigger.from_crontab(" ".join(fields), timezone=ZoneInfo(timezone))


def _weekday_names(field: str) -> str:
    items = []
    for item in field.split(","):
        base, slash, step_text = item.partition("/")
        if not any(ch.isdigit() for ch in base) and not (base == "*" and slash):
            items.append(item)  # `*` or names: both dialects agree
            continue
        try:
            step = int(step_text) if slash else 1
            if base == "*":
                first, last = 0, 6
            elif "-" in base:
                first, last = (int(part) for part in base.split("-", 1))
            else:
                first = int(base)
                last = 6 if slash else first
        except ValueError:
            raise ValueError(f"day of week {item!r} mixes names and numbers") from None
        if not (0 <= first <= last <= 7 and step >= 1):
            raise ValueError(f"day of week {item!r} is out of range (0-7, Sunday is 0 or 7)")
        items.extend(_CRON_WEEKDAYS[day] for day in range(first, last + 1, step))
    return ",".join(dict.fromkeys(items))


_ALIASES = {name: field.alias or name for name, field in MaintenanceConfig.model_fields.items()}


def _camel_keys(value: dict[str, Any]) -> dict[str, Any]:
    """Keys as the API shows them, so a snake_case and a camelCase spelling cannot both apply."""
    return {_ALIASES.get(key, key): item for key, item in value.items()}


def _explain(exc: ValidationError) -> str:
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    # Name the setting (for `tasks`, the task and its field); deeper parts are type details.
    key = ".".join(loc[:3] if loc[:1] == ["tasks"] else loc[:1])
    if error["type"] == "extra_forbidden":
        return f"unknown maintenance setting {key!r}"
    message = error["msg"].removeprefix("Value error, ")
    value = error.get("input")
    if isinstance(value, str | int | float | bool) or value is None:
        return f"invalid maintenance setting {key!r} = {value!r}: {message}"
    return f"invalid maintenance setting {key!r}: {message}"


def validate_config(value: object) -> MaintenanceConfig:
    if not isinstance(value, dict):
        raise InvalidMaintenanceConfig("the maintenance configuration must be a JSON object")
    try:
        return MaintenanceConfig.model_validate(_camel_keys(value))
    except ValidationError as exc:
        raise InvalidMaintenanceConfig(_explain(exc)) from None


async def _stored(conn: asyncpg.Connection) -> object:
    value = await conn.fetchval("SELECT value FROM public.config WHERE key = $1", CONFIG_KEY)
    return value if value is not None else {}


async def load_config(db: Postgres) -> MaintenanceConfig:
    """The current configuration; InvalidMaintenanceConfig when the stored value is broken."""
    async with db.acquire() as conn:
        stored = await _stored(conn)
    try:
        return validate_config(stored)
    except InvalidMaintenanceConfig as exc:
        raise InvalidMaintenanceConfig(f"stored configuration: {exc}") from None


async def save_config(runtime: Runtime, patch: dict[str, Any]) -> MaintenanceConfig:
    """Merge `patch` onto the stored value, validate the whole, store it and tell every replica.

    Only keys someone set are stored, so a key never set keeps following its default. Task
    toggles merge per task. Nothing is written when the result is invalid.
    """
    if not isinstance(patch, dict):
        raise InvalidMaintenanceConfig("the maintenance configuration must be a JSON object")
    patch = _camel_keys(patch)
    async with runtime.db.transaction() as conn:
        # Two concurrent PATCHes must not overwrite each other's keys.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", "ayon.config.maintenance")
        stored = await _stored(conn)
        # A stored value that is not even an object can only be replaced.
        merged = _camel_keys(stored) if isinstance(stored, dict) else {}
        tasks_patch = patch.get("tasks")
        if isinstance(tasks_patch, dict) and isinstance(merged.get("tasks"), dict):
            patch = {**patch, "tasks": {**merged["tasks"], **tasks_patch}}
        merged.update(patch)
        config = validate_config(merged)
        await conn.execute(
            """
            INSERT INTO public.config (key, value, updated_at) VALUES ($1, $2, now())
            ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
            """,
            CONFIG_KEY,
            merged,
        )
    try:
        await runtime.redis.publish(CONFIG_CHANNEL, json.dumps(config.model_dump(by_alias=True)))
    except (RedisError, OSError) as exc:
        # The row is the source of truth; schedulers also poll it.
        log.warning("could not announce the maintenance configuration on Redis: %s", exc)
    return config
