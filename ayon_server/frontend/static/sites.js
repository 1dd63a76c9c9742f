// The sites page: the client sites the server has seen; admins may remove one.
import { api, clearAlert, el, fillTable, showAlert, startPage, timeEl } from "./app.js";

const $ = (id) => document.getElementById(id);

async function load(isAdmin) {
  const sites = await api("/api/system/sites");
  fillTable($("sites-table").tBodies[0], sites.map((site) => {
    const remove = el("button", { type: "button", class: "danger", "aria-label": `Remove site ${site.id}` }, "Remove");
    remove.addEventListener("click", async () => {
      clearAlert($("sites-error"));
      try {
        await api(`/api/system/sites/${encodeURIComponent(site.id)}`, { method: "DELETE" });
        await load(isAdmin);
      } catch (error) {
        showAlert($("sites-error"), error);
      }
    });
    return el("tr", {},
      el("td", {}, el("code", {}, site.id)),
      el("td", {}, site.platform),
      el("td", {}, site.hostname),
      el("td", {}, site.version),
      el("td", {}, site.users.join(", ")),
      el("td", {}, timeEl(site.lastSeen)),
      isAdmin ? el("td", {}, remove) : null);
  }), "No sites yet");
}

startPage(async (_me, roles) => load(roles.admin));
