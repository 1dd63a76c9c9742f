// The replicas page: live server replicas and what each has installed, refreshed every 10 s.
import { api, badge, el, fillTable, showAlert, startPage, timeEl } from "./app.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 10000;

function packages(replica) {
  if (!replica.packages.length) return "nothing";
  return el("ul", { class: "plain" }, ...replica.packages.map((item) => el("li", {},
    badge(item.status), " ", `${item.kind} ${item.name} ${item.version}`,
    item.error ? el("span", { class: "error" }, " ", item.error) : "")));
}

async function load() {
  const { replicas } = await api("/api/system/replicas");
  fillTable($("replicas-table").tBodies[0], replicas.map((replica) => el("tr", {},
    el("td", {}, el("code", {}, replica.id)),
    el("td", {}, replica.hostname),
    el("td", {}, replica.version),
    el("td", {}, badge(replica.live ? "live" : "gone")),
    el("td", {}, timeEl(replica.startedAt)),
    el("td", {}, timeEl(replica.lastSeen)),
    el("td", {}, packages(replica)))), "No replicas have reported");
}

startPage(async () => {
  await load();
  setInterval(() => load().catch((error) => showAlert($("replicas-error"), error)), REFRESH_MS);
});
