"""Random 256-bit tokens for sessions and API keys, and the hash API keys are stored under."""

from __future__ import annotations

import hashlib
import re
import secrets

TOKEN_RE = re.compile(r"^[0-9a-f]{64}$")


def new_token() -> str:
    """64 hex characters (AYON's session token length, which its client checks)."""
    return secrets.token_hex(32)


def hash_api_key(key: str) -> str:
    """API keys are 256-bit random values, so a plain SHA-256 is a safe, indexable digest."""
    return hashlib.sha256(key.encode()).hexdigest()
