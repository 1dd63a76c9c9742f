"""Check the repository's docker-compose.yml end to end on one Docker host, with figures.

    .venv/bin/python deploy/compose/smoke.py                 # all-in-one `server`, 2 replicas
    .venv/bin/python deploy/compose/smoke.py --split         # setup + `api` (2) + maintenance

It builds the image, starts the stack as its own Compose project (`ayon-smoke`, host ports
5200.., so a stack you run is left alone) and checks, printing PASS/FAIL per step:

1. setup exits 0 (split roles) and every replica answers GET /api/ready 200;
2. the web UI: `/`, `/login` (when this build has the admin UI) and `/docs` load, and so does
   every same-origin script, style sheet and JS module they reference;
3. an addon zip uploaded once (POST /api/addons/install) ends up unpacked in every replica's
   AYON_ADDONS_DIR, and GET /api/system/replicas lists each replica, live, with it installed;
4. `docker compose run --rm <service> python -m maintenance` completes (exit 0);
5. `docker compose down -v` removes the project.

The exit code is 0 only when all hold. Talks only to 127.0.0.1 and to `docker compose`; not a
test of the suite (CI has no Docker).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
PROJECT = "ayon-smoke"
FIRST_PORT = 5200
ADDON = ("smoke_check", "1.0.0")
ASSET_RE = re.compile(r"""(?:src|href)="(/[^"]*)\"""")
MODULE_IMPORT_RE = re.compile(r"""from\s+["'](\./[^"']+)["']""")


class Stack:
    def __init__(self, split: bool, replicas: int):
        self.split = split
        self.service = "api" if split else "server"
        self.ports = [FIRST_PORT + i for i in range(replicas)]
        port_range = f"{self.ports[0]}-{self.ports[-1]}" if replicas > 1 else str(self.ports[0])
        self.env = {
            **os.environ,
            "AYON_SPLIT_HTTP_PORT" if split else "AYON_HTTP_PORT": port_range,
            "DOCKER_BUILDKIT": os.environ.get("DOCKER_BUILDKIT", "0"),
        }
        self.password = os.environ.get("AYON_ADMIN_PASSWORD", "admin")

    def compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        profile = ["--profile", "split"] if self.split else []
        command = ["docker", "compose", "-p", PROJECT, *profile, *args]
        result = subprocess.run(
            command, cwd=REPO, env=self.env, capture_output=True, text=True, timeout=600
        )
        if check and result.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr.strip()[-2000:]}")
        return result

    def containers(self) -> list[str]:
        return self.compose("ps", "-q", self.service).stdout.split()

    def exit_codes(self) -> dict[str, str]:
        lines = self.compose("ps", "-a", "--format", "{{.Name}} {{.ExitCode}}").stdout
        return dict(line.split() for line in lines.splitlines() if line.strip())

    def up(self, replicas: int) -> None:
        services = ["setup", "api", "maintenance"] if self.split else []
        self.compose("up", "-d", "--scale", f"{self.service}={replicas}", *services)


def report(name: str, ok: bool, figures: str) -> bool:
    print(f"[{'PASS' if ok else 'FAIL'}] {name}: {figures}", flush=True)
    return ok


def wait_ready(http: httpx.Client, url: str, timeout: float = 180) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if http.get(f"{url}/api/ready", timeout=3).status_code == 200:
                return time.monotonic() - start
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"{url} not ready within {timeout:.0f} s")


def check_pages(http: httpx.Client, url: str) -> bool:
    """Every same-origin page reachable from `/`, `/login` and `/docs`, and every script, style
    sheet and JS module they use, answers 200 (the API itself is left out)."""
    has_ui = http.get(f"{url}/login").status_code != 404
    queue = ["/", "/docs", *(["/login"] if has_ui else [])]
    seen: set[str] = set()
    pages, files, failures = [], 0, []
    while queue:
        path = queue.pop(0)
        if path in seen or path.startswith("/api/"):
            continue
        seen.add(path)
        response = http.get(f"{url}{path}")
        if response.status_code != 200:
            failures.append(f"{path} {response.status_code}")
            continue
        kind = response.headers.get("content-type", "")
        if "html" in kind:
            pages.append(path)
            queue.extend(ASSET_RE.findall(response.text))
        else:
            files += 1
            if "javascript" in kind:
                base = path.rsplit("/", 1)[0]
                queue.extend(f"{base}/{m[2:]}" for m in MODULE_IMPORT_RE.findall(response.text))
    return report(
        "web UI pages and their files",
        not failures and (not has_ui or len(pages) > 3),
        f"{len(pages)} pages ({' '.join(sorted(pages))}) and {files} files answer 200"
        + ("" if has_ui else "; this build has no admin UI (/login is 404)")
        + (f"; failed: {failures}" if failures else ""),
    )


def addon_zip(name: str, version: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "manifest.json", json.dumps({"addon_name": name, "addon_version": version})
        )
        archive.writestr("addon/__init__.py", "")
        archive.writestr("addon/private/hello.txt", "installed by deploy/compose/smoke.py\n")
    return buffer.getvalue()


def check_addon(http: httpx.Client, stack: Stack, url: str, headers: dict[str, str]) -> bool:
    name, version = ADDON
    start = time.monotonic()
    response = http.post(
        f"{url}/api/addons/install",
        content=addon_zip(name, version),
        headers={**headers, "Content-Type": "application/zip"},
    )
    if response.status_code != 200:
        return report("addon installed on every replica", False, f"upload {response.text}")
    containers = stack.containers()
    target = f"{name}/{version}/private/hello.txt"
    unpacked: dict[str, float] = {}
    while len(unpacked) < len(containers) and time.monotonic() - start < 60:
        for container in containers:
            if container in unpacked:
                continue
            probe = subprocess.run(
                ["docker", "exec", container, "sh", "-c", f'test -f "$AYON_ADDONS_DIR/{target}"'],
                capture_output=True,
                check=False,
            )
            if probe.returncode == 0:
                unpacked[container] = time.monotonic() - start
        time.sleep(0.25)
    listed = http.get(f"{url}/api/system/replicas", headers=headers).json()["replicas"]
    hosts = {c[:12] for c in containers}  # a container's hostname is its short id
    with_addon = {
        r["hostname"]
        for r in listed
        if r["live"]
        and any(
            (p["name"], p["version"], p["status"]) == (name, version, "installed")
            for p in r["packages"]
        )
    }
    return report(
        "addon installed on every replica",
        len(unpacked) == len(containers) and hosts <= with_addon,
        f"{name} {version} unpacked in {len(unpacked)}/{len(containers)} replicas' /addons "
        f"after {max(unpacked.values(), default=0):.1f} s; /api/system/replicas lists "
        f"{len(hosts & with_addon)}/{len(hosts)} of them live with it installed",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", action="store_true", help="setup, api and maintenance roles")
    parser.add_argument("--replicas", type=int, default=2, help="server replicas (default 2)")
    args = parser.parse_args()
    stack = Stack(args.split, args.replicas)
    results = []

    start = time.monotonic()
    stack.compose("build")
    print(f"image built in {time.monotonic() - start:.1f} s", flush=True)
    stack.compose("down", "-v", check=False)
    try:
        start = time.monotonic()
        stack.up(args.replicas)
        urls = [f"http://127.0.0.1:{port}" for port in stack.ports]
        with httpx.Client(timeout=30) as http:
            for url in urls:
                wait_ready(http, url)
            if args.split:
                setup = stack.compose("ps", "-a", "--format", "{{.ExitCode}}", "setup")
                codes = setup.stdout.split()
                results.append(report("setup exits 0", codes == ["0"], f"exit codes {codes}"))
            results.append(
                report(
                    "every replica ready",
                    True,
                    f"{len(urls)} replica(s) answer /api/ready 200 within "
                    f"{time.monotonic() - start:.1f} s of `docker compose up -d`",
                )
            )
            results.append(check_pages(http, urls[0]))
            token = http.post(
                f"{urls[0]}/api/auth/login", json={"name": "admin", "password": stack.password}
            ).json()["token"]
            results.append(check_addon(http, stack, urls[-1], {"Authorization": f"Bearer {token}"}))
        start = time.monotonic()
        role = "maintenance" if args.split else "server"
        run = stack.compose("run", "--rm", role, "python", "-m", "maintenance", check=False)
        summary = next((line for line in run.stdout.splitlines() if "Maintenance" in line), "")
        results.append(
            report(
                "maintenance run completes",
                run.returncode == 0,
                f"`docker compose run --rm {role} python -m maintenance` exit {run.returncode} "
                f"in {time.monotonic() - start:.1f} s: {summary}",
            )
        )
        start = time.monotonic()
        stack.compose("stop")
        codes = stack.exit_codes()
        results.append(
            report(
                "graceful stop",
                set(codes.values()) == {"0"},
                f"`docker compose stop` in {time.monotonic() - start:.1f} s, exit codes {codes}",
            )
        )
    finally:
        start = time.monotonic()
        stack.compose("down", "-v")
        left = stack.compose("ps", "-a", "-q").stdout.split()
        results.append(
            report(
                "compose down -v",
                not left,
                f"{time.monotonic() - start:.1f} s, {len(left)} containers left",
            )
        )
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
