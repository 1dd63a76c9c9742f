"""deploy/kubernetes: every kustomization renders to manifests valid against current Kubernetes
schemas, with the operational rules an upgrade without an outage relies on.

Rendering uses kustomize itself: the `kustomize` binary when present, else the one built into
`kubectl kustomize`. Validation uses kubernetes-validate's bundled schemas of the newest
Kubernetes release it knows, in strict mode (unknown fields are errors).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.helpers.settings import REPO_ROOT

K8S = REPO_ROOT / "deploy" / "kubernetes"
KUSTOMIZATIONS = {
    "default": K8S,
    "single": K8S / "overlays" / "single",
    "scaled": K8S / "overlays" / "scaled",
}
IMAGE_NAME = "ayon-server-core"
LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet"}


def kustomize_command(directory: Path) -> list[str]:
    if shutil.which("kustomize"):
        return ["kustomize", "build", str(directory)]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize", str(directory)]
    raise AssertionError("rendering needs kustomize or kubectl (which has kustomize built in)")


@cache
def render(name: str) -> tuple[dict[str, Any], ...]:
    result = subprocess.run(
        kustomize_command(KUSTOMIZATIONS[name]),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def pod_spec(resource: dict[str, Any]) -> dict[str, Any] | None:
    spec = resource.get("spec", {})
    if resource["kind"] == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]
    if "template" in spec:
        return spec["template"]["spec"]
    return None


def containers(resource: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = pod_spec(resource)
    if spec is not None:
        yield from spec.get("initContainers", [])
        yield from spec["containers"]


def env_value(container: dict[str, Any], name: str) -> str | None:
    for item in container.get("env", []):
        if item["name"] == name:
            return item.get("value")
    return None


def runs_setup(container: dict[str, Any]) -> bool:
    """Setup runs unless AYON_RUN_SETUP says false (unset means true)."""
    value = env_value(container, "AYON_RUN_SETUP")
    return value is None or value.lower() in ("true", "1", "yes", "on")


def kustomization_files() -> list[Path]:
    return sorted(K8S.rglob("kustomization.yaml"))


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_every_rendered_manifest_is_valid_against_current_kubernetes_schemas(name: str) -> None:
    version = kubernetes_validate.latest_version()
    resources = render(name)
    assert resources
    for resource in resources:
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(
                f"{name}: {resource['kind']}/{resource['metadata']['name']}: {exc.message}"
            ) from None


def test_the_validator_rejects_a_broken_manifest() -> None:
    """The check above can fail: a wrong type or an unknown field is an error."""
    version = kubernetes_validate.latest_version()
    deployment = next(r for r in render("default") if r["kind"] == "Deployment")
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, version, strict=True)
    typo = yaml.safe_load(yaml.safe_dump(deployment))
    typo["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, version, strict=True)


def test_the_image_is_set_only_by_the_base_images_entry() -> None:
    entries = {}
    for path in kustomization_files():
        images = (yaml.safe_load(path.read_text()) or {}).get("images", [])
        if images:
            entries[path.relative_to(K8S).as_posix()] = images
    assert list(entries) == ["base/kustomization.yaml"]
    (entry,) = entries["base/kustomization.yaml"]
    assert entry["name"] == IMAGE_NAME
    expected = f"{entry.get('newName', IMAGE_NAME)}:{entry['newTag']}"
    # Manifests name only the placeholder, never a registry or a tag ...
    for path in sorted(K8S.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") not in (None, "Kustomization"):
                for container in containers(doc):  # patches may leave the image out
                    assert container.get("image", IMAGE_NAME) == IMAGE_NAME, path
    # ... and every rendered container runs the image the entry chose.
    for name in KUSTOMIZATIONS:
        images = {c["image"] for r in render(name) for c in containers(r)}
        assert images == {expected}, name


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_every_long_running_container_has_readiness_and_liveness_probes(name: str) -> None:
    long_running = [r for r in render(name) if r["kind"] in LONG_RUNNING]
    assert long_running
    for resource in long_running:
        for container in containers(resource):
            for probe in ("readinessProbe", "livenessProbe"):
                assert probe in container, f"{name}: {resource['metadata']['name']} {probe}"


def test_the_maintenance_scheduler_is_probed_by_its_heartbeat() -> None:
    (scheduler,) = [r for r in render("default") if r["metadata"]["name"] == "ayon-maintenance"]
    (container,) = containers(scheduler)
    command = ["python", "-m", "maintenance.heartbeat"]
    assert container["livenessProbe"]["exec"]["command"] == command
    assert container["readinessProbe"]["exec"]["command"] == command
    path = env_value(container, "AYON_MAINTENANCE_HEARTBEAT_FILE")
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert path is not None and str(Path(path).parent) in mounts  # writable: rootfs is read-only


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_no_secret_is_rendered_and_the_admin_password_reaches_only_setup(name: str) -> None:
    resources = render(name)
    assert [r for r in resources if r["kind"] == "Secret"] == []
    with_password = []
    for resource in resources:
        for container in containers(resource):
            # Whole-Secret imports would hand every key, the admin password too, to the pod.
            assert all("secretRef" not in source for source in container.get("envFrom", []))
            names = {item["name"] for item in container.get("env", [])}
            if "AYON_ADMIN_PASSWORD" in names:
                with_password.append(resource["metadata"]["name"])
                assert runs_setup(container), resource["metadata"]["name"]
    assert with_password == (["ayon-server"] if name == "single" else ["ayon-setup"])


def test_the_example_secret_is_outside_every_kustomization() -> None:
    example = K8S / "examples" / "secret.example.yaml"
    assert yaml.safe_load(example.read_text())["kind"] == "Secret"
    for path in kustomization_files():
        kustomization = yaml.safe_load(path.read_text())
        listed = [
            *kustomization.get("resources", []),
            *kustomization.get("components", []),
            *(patch["path"] for patch in kustomization.get("patches", []) if "path" in patch),
        ]
        for entry in listed:
            target = (path.parent / entry).resolve()
            assert target.is_relative_to(K8S) and "examples" not in target.parts, (path, entry)
    assert all(r["kind"] != "Secret" for name in KUSTOMIZATIONS for r in render(name))


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_pods_mount_no_service_account_token(name: str) -> None:
    resources = render(name)
    (account,) = [r for r in resources if r["kind"] == "ServiceAccount"]
    assert account["automountServiceAccountToken"] is False
    for resource in resources:
        spec = pod_spec(resource)
        if spec is not None:
            assert spec["serviceAccountName"] == account["metadata"]["name"]
            assert spec["automountServiceAccountToken"] is False


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_the_server_has_a_disruption_budget_and_spreads_its_replicas(name: str) -> None:
    resources = render(name)
    (server,) = [
        r for r in resources if r["metadata"]["name"] == "ayon-server" and r["kind"] == "Deployment"
    ]
    (budget,) = [r for r in resources if r["kind"] == "PodDisruptionBudget"]
    labels = server["spec"]["template"]["metadata"]["labels"]
    selector = budget["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    spread = server["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} >= {"kubernetes.io/hostname"}
    if name != "single":
        assert server["spec"]["replicas"] >= 2
        assert server["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_cronjob_runs_are_bounded_and_the_scaled_overlay_has_setup_and_replicas() -> None:
    resources = render("scaled")
    kinds = {(r["kind"], r["metadata"]["name"]) for r in resources}
    assert ("Job", "ayon-setup") in kinds
    assert ("Deployment", "ayon-maintenance") not in kinds  # the CronJob replaces it
    (cron,) = [r for r in resources if r["kind"] == "CronJob"]
    assert cron["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] > 0
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    (server,) = [
        r for r in resources if r["metadata"]["name"] == "ayon-server" and r["kind"] == "Deployment"
    ]
    assert server["spec"]["replicas"] == 4


def test_the_single_overlay_is_one_all_in_one_pod() -> None:
    resources = render("single")
    workloads = [r for r in resources if pod_spec(r) is not None]
    assert [(r["kind"], r["metadata"]["name"]) for r in workloads] == [
        ("Deployment", "ayon-server")
    ]
    (server,) = workloads
    assert server["spec"]["replicas"] == 1
    assert server["spec"]["strategy"] == {"type": "Recreate"}
    (container,) = containers(server)
    assert {env_value(container, f"AYON_RUN_{r}") for r in ("SETUP", "SERVER", "MAINTENANCE")} == {
        "true"
    }
