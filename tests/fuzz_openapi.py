"""schemathesis over /openapi.json against a real server process: `make fuzz`.

Not part of the default suite (it is named so pytest does not collect it on its own): it runs
`schemathesis run` with a bounded number of examples per operation, as an administrator, and
fails on any server error. Schema-conformance findings are printed with the counts; with
FUZZ_STRICT=1 they fail the run too.

    make fuzz                          # FUZZ_EXAMPLES=20 by default
    make fuzz FUZZ_EXAMPLES=200        # a longer run
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from pathlib import Path

from ayon_server.config import Settings
from ayon_server.runtime import Runtime
from tests.helpers.server import server_process
from tests.helpers.users import make_user

# The CLI installed next to this interpreter (the project's .venv).
SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
STRICT = os.environ.get("FUZZ_STRICT") == "1"
SERVER_ERRORS = "not_a_server_error"
CONFORMANCE = "status_code_conformance,content_type_conformance,response_schema_conformance"
# Operations whose valid call starts work beyond the request: fuzzed calls would start it
# (a maintenance run; an addon download from whatever URL was generated).
EXCLUDED_PATHS = ["/api/maintenance/run", "/api/addons/install"]


async def _schemathesis(base: str, api_key: str, checks: str, report: Path) -> tuple[int, str]:
    args = [
        SCHEMATHESIS,
        "run",
        f"{base}/openapi.json",
        "--max-examples",
        str(EXAMPLES),
        "--checks",
        checks,
        "--header",
        f"X-Api-Key: {api_key}",
        "--workers",
        "2",
        "--seed",
        "12",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
        "--continue-on-failure",
        "--suppress-health-check",
        "all",
        "--no-color",
    ]
    for path in EXCLUDED_PATHS:
        args += ["--exclude-path", path]
    # Run where it may leave its .schemathesis/ files: the test's temporary directory.
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=report.parent, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await proc.communicate()
    return proc.returncode or 0, output.decode(errors="replace")


def _summary(report: Path) -> tuple[dict[str, int], dict[str, set[str]]]:
    """From the ndjson events: counts (cases, failures by check) and the failing operations."""
    counts: dict[str, int] = {"cases": 0}
    failing: dict[str, set[str]] = {}
    for line in report.read_text().splitlines():
        finished = json.loads(line).get("ScenarioFinished")
        if not finished:
            continue
        recorder = finished.get("recorder", {})
        cases = recorder.get("cases", {})
        counts["cases"] += len(cases)
        for case_id, checks in recorder.get("checks", {}).items():
            case = cases.get(case_id, {}).get("value", {})
            for check in checks:
                if check.get("status") == "failure":
                    name = check["name"]
                    counts[name] = counts.get(name, 0) + 1
                    failing.setdefault(name, set()).add(f"{case.get('method')} {case.get('path')}")
    return counts, failing


async def test_schemathesis_finds_no_server_error(settings: Settings, tmp_path: Path) -> None:
    runtime = Runtime.create(settings)
    key = secrets.token_hex(32)
    try:
        await make_user(runtime, api_key=key, isAdmin=True)
    finally:
        await runtime.close()
    checks = f"{SERVER_ERRORS},{CONFORMANCE}"
    async with server_process(settings) as base:
        code, output = await _schemathesis(base, key, checks, tmp_path / "report.ndjson")
    counts, failing = _summary(tmp_path / "report.ndjson")
    print(output[-4000:])
    print(f"schemathesis: {EXAMPLES} examples per operation; test cases and failures: {counts}")
    for check, operations in sorted(failing.items()):
        print(f"{check}: {len(operations)} operations: {', '.join(sorted(operations))}")
    assert counts["cases"] > 0, output[-3000:]
    assert counts.get(SERVER_ERRORS, 0) == 0, sorted(failing.get(SERVER_ERRORS, ()))
    if STRICT:
        assert code == 0, output[-6000:]
