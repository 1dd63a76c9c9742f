// The addons page: upload an addon, the stored addons with their versions, recent installs,
// bundles, dependency packages and installers. Per-replica install state: the replicas page.
import {
  NO_VALUE, api, badge, clearAlert, el, fillTable, showAlert, startPage, timeEl,
} from "./app.js";

const $ = (id) => document.getElementById(id);
const PACKAGE_KINDS = [
  ["dependency package", "/api/desktop/dependencyPackages", "packages"],
  ["installer", "/api/desktop/installers", "installers"],
];

function notice(text) {
  $("upload-notice").textContent = text;
  $("upload-notice").hidden = false;
}

function formatBytes(size) {
  if (typeof size !== "number") return NO_VALUE;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KiB`;
  return `${(size / 1024 / 1024).toFixed(1)} MiB`;
}

async function act(errorId, action) {
  clearAlert($(errorId));
  try {
    await action();
  } catch (error) {
    showAlert($(errorId), error);
  }
}

function versionCell(addon) {
  return Object.keys(addon.versions).sort().map((version) => {
    const remove = el("button", {
      type: "button", class: "link danger", "aria-label": `Delete ${addon.name} ${version}`,
    }, "delete");
    remove.addEventListener("click", () => act("addons-error", async () => {
      const path = `/api/addons/${encodeURIComponent(addon.name)}/${encodeURIComponent(version)}`;
      await api(path, { method: "DELETE" });
      await loadAll();
    }));
    return el("span", { class: "version" }, el("code", {}, version), " ", remove, " ");
  });
}

async function loadAddons() {
  const { addons } = await api("/api/addons");
  fillTable($("addons-table").tBodies[0], addons.map((addon) => el("tr", {
    dataset: { addon: addon.name },
  },
  el("td", {}, el("code", {}, addon.name)),
  el("td", {}, addon.title),
  el("td", {}, versionCell(addon)),
  el("td", {}, addon.productionVersion || NO_VALUE),
  el("td", {}, addon.stagingVersion || NO_VALUE))), "No addons stored");
}

async function loadInstalls() {
  const { items } = await api("/api/addons/install");
  fillTable($("installs-table").tBodies[0], items.map((item) => el("tr", {},
    el("td", {}, timeEl(item.createdAt)),
    el("td", {}, item.addonName || NO_VALUE),
    el("td", {}, item.addonVersion || NO_VALUE),
    el("td", {}, badge(item.status)),
    el("td", {}, item.user || ""),
    el("td", {}, item.description))), "No installs yet");
}

async function loadBundles() {
  const { bundles } = await api("/api/bundles");
  fillTable($("bundles-table").tBodies[0], bundles.map((bundle) => el("tr", {},
    el("td", {}, el("code", {}, bundle.name)),
    el("td", {}, ...[["production", bundle.isProduction], ["staging", bundle.isStaging],
      ["dev", bundle.isDev]].filter(([, on]) => on).map(([use]) => badge(use))),
    el("td", {}, Object.entries(bundle.addons).filter(([, version]) => version)
      .map(([name, version]) => `${name} ${version}`).join(", ") || NO_VALUE),
    el("td", {}, bundle.installerVersion || NO_VALUE),
    el("td", {}, timeEl(bundle.updatedAt)))), "No bundles");
}

async function loadPackages() {
  const lists = await Promise.all(PACKAGE_KINDS.map(async ([kind, path, key]) =>
    (await api(path))[key].map((item) => ({ kind, path, item }))));
  fillTable($("packages-table").tBodies[0], lists.flat().map(({ kind, path, item }) => {
    const remove = el("button", {
      type: "button", class: "danger", "aria-label": `Delete ${item.filename}`,
    }, "Delete");
    remove.addEventListener("click", () => act("packages-error", async () => {
      await api(`${path}/${encodeURIComponent(item.filename)}`, { method: "DELETE" });
      await loadPackages();
    }));
    const stored = item.sources.some((source) => source.type === "server");
    return el("tr", {},
      el("td", {}, kind),
      el("td", {}, el("code", {}, item.filename)),
      el("td", {}, item.platform),
      el("td", { class: "num" }, formatBytes(item.size)),
      el("td", {}, stored ? "yes" : "no"),
      el("td", {}, remove));
  }), "No dependency packages or installers");
}

async function loadAll() {
  await Promise.all([loadAddons(), loadInstalls(), loadBundles(), loadPackages()]);
}

async function upload(event) {
  event.preventDefault();
  clearAlert($("upload-error"));
  $("upload-notice").hidden = true;
  const file = event.target.elements.file.files[0];
  if (!file) {
    showAlert($("upload-error"), "Choose an addon package (.zip) first");
    return;
  }
  const button = event.target.querySelector("button");
  button.disabled = true;
  await act("upload-error", async () => {
    await api("/api/addons/install", { method: "POST", file });
    notice(`${file.name} uploaded`);
    event.target.reset();
  });
  button.disabled = false;
  await act("addons-error", loadAll);
}

startPage(async () => {
  $("upload-form").addEventListener("submit", upload);
  await loadAll();
});
