"""Reading an addon zip's manifest: AYON's three forms, nothing executed, bad ones refused."""

from __future__ import annotations

import io
import zipfile

import pytest

from ayon_server.addons.manifest import read_manifest
from ayon_server.exceptions import BadRequestException


def archive(entries: dict[str, str]) -> zipfile.ZipFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, text in {**entries, "addon/private/client.zip": "z"}.items():
            zf.writestr(name, text)
    return zipfile.ZipFile(io.BytesIO(buffer.getvalue()))


@pytest.mark.parametrize(
    "entries",
    [
        {"manifest.json": '{"addon_name": "demo", "addon_version": "1.2.3", "title": "Demo"}'},
        {"package.py": 'name = "demo"\nversion = "1.2.3"\ntitle = "Demo"\nclient_dir = f"x"\n'},
        {
            "package.yaml": "name: demo\nversion: '1.2.3'  # comment\n"
            'title: "Demo"\nlist:\n  - a\n'
        },
        {"package.yml": "name: demo\nversion: 1.2.3\ntitle: Demo\n"},
    ],
)
def test_every_manifest_form_gives_name_version_title_and_private_files(
    entries: dict[str, str],
) -> None:
    manifest = read_manifest(archive(entries))
    assert (manifest.name, manifest.version, manifest.title) == ("demo", "1.2.3", "Demo")
    assert manifest.private_files == ("client.zip",)


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ({"manifest.json": "[1]"}, "must be a JSON object"),
        ({"manifest.json": "{"}, "not valid JSON"),
        ({"package.py": "name = (\n"}, "not valid Python"),
        ({"package.py": 'name = "demo"\nversion = VERSION\n'}, "Invalid addon version"),
        ({"package.yaml": "name: demo\nversion: 1.0\n"}, "Invalid addon version"),
        ({"manifest.json": '{"addon_name": "a/b", "addon_version": "1.0.0"}'}, "addon name"),
        ({"sub/manifest.json": '{"addon_name": "a", "addon_version": "1.0.0"}'}, "no manifest"),
    ],
)
def test_bad_manifests_are_refused_saying_why(entries: dict[str, str], reason: str) -> None:
    with pytest.raises(BadRequestException, match=reason):
        read_manifest(archive(entries))
