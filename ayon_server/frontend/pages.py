"""The admin web UI's pages: Jinja2 templates rendered on the server, plain JS modules beside them.

A page's HTML is the same for every visitor (it holds no data); its module fetches what it shows
from the REST API with the visitor's token, so the API alone decides who may see or do what and
the UI only hides what the visitor may not use. Nothing is fetched from outside the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from zoneinfo import available_timezones

from jinja2 import Environment, FileSystemLoader, select_autoescape

from ayon_server.version import __version__

FRONTEND_DIR = Path(__file__).parent
STATIC_DIR = FRONTEND_DIR / "static"
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css"}


@dataclass(frozen=True)
class Page:
    path: str
    title: str
    template: str
    # Who the navigation shows it to: "admin", "manager" (and admins) or "user" (everyone).
    audience: str


PAGES: tuple[Page, ...] = (
    Page("/maintenance", "Maintenance", "maintenance.html", "admin"),
    Page("/events", "Events", "events.html", "manager"),
    Page("/logs", "Logs", "logs.html", "admin"),
    Page("/sites", "Sites", "sites.html", "user"),
    Page("/users", "Users", "users.html", "user"),
    Page("/replicas", "Replicas", "replicas.html", "admin"),
    Page("/addons", "Addons", "addons.html", "admin"),
)

_environment = Environment(
    loader=FileSystemLoader(FRONTEND_DIR / "templates"),
    autoescape=select_autoescape(("html",)),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _static_files() -> dict[str, Path]:
    """The files /static/ serves, fixed at start: a request can name nothing else."""
    return {
        path.name: path
        for path in STATIC_DIR.iterdir()
        if path.is_file() and path.suffix in STATIC_TYPES
    }


STATIC_FILES = _static_files()


def render_page(page: Page) -> str:
    context = {
        "page": page,
        "pages": PAGES,
        "version": __version__,
        "timezones": sorted(available_timezones()) if page.path == "/maintenance" else (),
    }
    return _environment.get_template(page.template).render(context)


def render_login() -> str:
    return _environment.get_template("login.html").render(version=__version__)
