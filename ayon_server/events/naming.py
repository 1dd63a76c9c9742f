"""AYON's naming rules for events and what `*` in a topic means.

* TOPIC_PATTERN: event topics and topic filters; `*` is a wildcard for any characters.
* NAME_PATTERN: AYON's NAME_REGEX, for project names on events and the x-sender headers.
"""

from __future__ import annotations

import re

TOPIC_PATTERN = r"^[a-zA-Z][a-zA-Z0-9_.*]{2,64}$"
NAME_PATTERN = r"^[a-zA-Z0-9_]([a-zA-Z0-9_.\-]*[a-zA-Z0-9_])?$"
EVENT_ID_PATTERN = r"^[0-9a-fA-F]{32}$"
NAME_MAX_LENGTH = 128

_TOPIC_RE = re.compile(TOPIC_PATTERN)
_NAME_RE = re.compile(NAME_PATTERN)


def is_topic(value: str) -> bool:
    return bool(_TOPIC_RE.match(value))


def is_name(value: str) -> bool:
    return len(value) <= NAME_MAX_LENGTH and bool(_NAME_RE.match(value))


def topic_like_pattern(topic: str) -> str:
    """A SQL LIKE pattern (default escape `\\`) matching `topic`, where `*` is any characters.

    `_` is valid in topics and `%` is not, but both are LIKE wildcards: escape them literally.
    """
    escaped = topic.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


def topic_prefix_matcher(subscription: str) -> re.Pattern[str]:
    """How a websocket subscription selects topics: AYON's prefix rule (`entity.folder`
    matches `entity.folder.created`), where `*` also matches any characters (`entity.*.created`).
    A lone `*` matches everything.
    """
    return re.compile(".*".join(re.escape(part) for part in subscription.split("*")))
