"""AYON's QueryFilter for events, turned into parameterized SQL.

A filter is `{"conditions": [condition | filter, ...], "operator": "and" | "or"}`; a condition is
`{"key", "value", "operator"}`. Keys are event fields in camelCase (`topic`, `senderType`,
`project`, `createdAt`...) or paths into the JSON columns (`summary/entityId`,
`payload.context.projectName`). Column names come from a fixed map and JSON path elements are
bind parameters, so nothing from the request is pasted into the SQL text. A filter the server
cannot apply is a 400, never a 500.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from ayon_server.exceptions import BadRequestException
from ayon_server.lib.postgres import SqlBuilder
from ayon_server.lib.timestamps import assume_utc

Operator = Literal[
    "eq",
    "like",
    "lt",
    "gt",
    "lte",
    "gte",
    "ne",
    "isnull",
    "notnull",
    "in",
    "notin",
    "includes",
    "excludes",
    "includesall",
    "excludesall",
    "includesany",
    "excludesany",
]
Scalar = StrictStr | StrictInt | StrictFloat | StrictBool
Value = Scalar | list[Scalar] | None

MAX_DEPTH = 8
MAX_CONDITIONS = 200

# camelCase key -> (column, kind). Kinds decide how a value is converted and compared.
_COLUMNS: dict[str, tuple[str, str]] = {
    "id": ("id", "uuid"),
    "hash": ("hash", "text"),
    "topic": ("topic", "text"),
    "sender": ("sender", "text"),
    "senderType": ("sender_type", "text"),
    "project": ("project_name", "text"),
    "projectName": ("project_name", "text"),
    "user": ("user_name", "text"),
    "userName": ("user_name", "text"),
    "dependsOn": ("depends_on", "uuid"),
    "status": ("status", "text"),
    "description": ("description", "text"),
    "retries": ("retries", "int"),
    "createdAt": ("created_at", "timestamp"),
    "updatedAt": ("updated_at", "timestamp"),
}
_JSON_COLUMNS = ("summary", "payload")
_PATH_ELEMENT = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_COMPARISONS = {"eq": "=", "lt": "<", "gt": ">", "lte": "<=", "gte": ">="}
_ARRAY_OPERATORS = ("includes", "excludes", "includesall", "excludesall")
_ANY_OPERATORS = ("includesany", "excludesany")


class QueryCondition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=256)
    value: Value = None
    operator: Operator = "eq"


class QueryFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    conditions: list[QueryCondition | QueryFilter] = Field(default_factory=list)
    operator: Literal["and", "or"] = "and"


def build_filter(query_filter: QueryFilter | None, alias: str, args: list[Any]) -> str:
    """SQL condition for `query_filter` on table alias `alias`, appending its values to `args`.

    An empty filter is TRUE.
    """
    if query_filter is None:
        return "TRUE"
    if _count_conditions(query_filter, depth=1) > MAX_CONDITIONS:
        raise BadRequestException(f"filter: more than {MAX_CONDITIONS} conditions")
    return _filter_sql(query_filter, alias, SqlBuilder(args))


def _count_conditions(query_filter: QueryFilter, depth: int) -> int:
    if depth > MAX_DEPTH:
        raise BadRequestException(f"filter: nested deeper than {MAX_DEPTH} levels")
    return sum(
        1 + (_count_conditions(c, depth + 1) if isinstance(c, QueryFilter) else 0)
        for c in query_filter.conditions
    )


def _filter_sql(query_filter: QueryFilter, alias: str, sql: SqlBuilder) -> str:
    parts = [
        _filter_sql(c, alias, sql) if isinstance(c, QueryFilter) else _condition_sql(c, alias, sql)
        for c in query_filter.conditions
    ]
    if not parts:
        return "TRUE"
    return "(" + f" {query_filter.operator.upper()} ".join(parts) + ")"


def _condition_sql(condition: QueryCondition, alias: str, sql: SqlBuilder) -> str:
    path = [part.strip() for part in condition.key.replace("/", ".").split(".")]
    try:
        if path[0] in _JSON_COLUMNS and len(path) > 1:
            return _json_condition(condition, f"{alias}.{path[0]}", path[1:], sql)
        if len(path) == 1 and path[0] in _COLUMNS:
            column, kind = _COLUMNS[path[0]]
            return _column_condition(condition, f"{alias}.{column}", kind, sql)
    except (TypeError, ValueError) as exc:
        raise BadRequestException(f"filter: {condition.key}: {exc}") from None
    raise BadRequestException(f"filter: unknown key {condition.key!r}")


def _column_condition(condition: QueryCondition, column: str, kind: str, sql: SqlBuilder) -> str:
    operator, value = condition.operator, condition.value
    if operator == "isnull":
        return f"{column} IS NULL"
    if operator == "notnull":
        return f"{column} IS NOT NULL"
    if operator in ("in", "notin"):
        if not isinstance(value, list):
            raise ValueError(f"{operator} needs a list value")
        values = [_convert(item, kind) for item in value]
        test = f"{column} = ANY({sql.param(values)}::{_SQL_TYPES[kind]}[])"
        return test if operator == "in" else f"NOT COALESCE({test}, FALSE)"
    if operator in _ARRAY_OPERATORS or operator in _ANY_OPERATORS:
        raise ValueError(f"{operator} applies to lists inside summary or payload only")
    if value is None or isinstance(value, list):
        raise ValueError(f"{operator} needs a single value")
    if operator == "like":
        if kind != "text" or not isinstance(value, str):
            raise ValueError("like compares text with a text pattern")
        return f"{column} ILIKE {sql.param(value)}"
    placeholder = f"{sql.param(_convert(value, kind))}::{_SQL_TYPES[kind]}"
    if operator == "ne":
        return f"{column} IS DISTINCT FROM {placeholder}"
    return f"{column} {_COMPARISONS[operator]} {placeholder}"


_SQL_TYPES = {"text": "text", "int": "integer", "uuid": "uuid", "timestamp": "timestamptz"}


def _convert(value: Any, kind: str) -> Any:
    """The bind value for a column of this kind; ValueError when it cannot be one."""
    if kind == "text":
        if not isinstance(value, str):
            raise ValueError("expected a string")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("expected an integer")
        return value
    if kind == "uuid":
        if not isinstance(value, str):
            raise ValueError("expected an event id")
        return uuid.UUID(hex=value)
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 datetime")
    return assume_utc(datetime.fromisoformat(value))


def _json_condition(
    condition: QueryCondition, column: str, path: list[str], sql: SqlBuilder
) -> str:
    if not all(_PATH_ELEMENT.match(part) for part in path):
        raise ValueError("path elements are letters, digits and underscores")
    operator, value = condition.operator, condition.value
    path_param = f"{sql.param(path)}::text[]"
    node = f"({column} #> {path_param})"
    if operator == "isnull":
        return f"({node} IS NULL OR {node} = 'null'::jsonb)"
    if operator == "notnull":
        return f"({node} IS NOT NULL AND {node} <> 'null'::jsonb)"
    if operator == "like":
        if not isinstance(value, str):
            raise ValueError("like compares text with a text pattern")
        return f"({column} #>> {path_param}) ILIKE {sql.param(value)}"
    if operator in ("in", "notin"):
        if not isinstance(value, list):
            raise ValueError(f"{operator} needs a list value")
        test = f"{node} = ANY(ARRAY(SELECT jsonb_array_elements({sql.param(value)}::jsonb)))"
        return test if operator == "in" else f"NOT COALESCE({test}, FALSE)"
    if operator in _ARRAY_OPERATORS:
        # jsonb containment: a list contains [x] when x is one of its elements.
        items = value if operator.endswith("all") else [value]
        if not isinstance(items, list) or any(isinstance(item, list) for item in items):
            raise ValueError(f"{operator} needs {'a list' if items is value else 'one value'}")
        test = f"{node} @> {sql.param(items)}::jsonb"
        return test if operator.startswith("includes") else f"NOT COALESCE({test}, FALSE)"
    if operator in _ANY_OPERATORS:
        if not isinstance(value, list):
            raise ValueError(f"{operator} needs a list value")
        test = (
            f"EXISTS (SELECT 1 FROM jsonb_array_elements({sql.param(value)}::jsonb) AS item"
            f" WHERE {node} @> jsonb_build_array(item))"
        )
        return test if operator == "includesany" else f"NOT {test}"
    if value is None or isinstance(value, list):
        raise ValueError(f"{operator} needs a single value")
    placeholder = f"{sql.param(value)}::jsonb"
    if operator == "ne":
        return f"{node} IS DISTINCT FROM {placeholder}"
    return f"{node} {_COMPARISONS[operator]} {placeholder}"
