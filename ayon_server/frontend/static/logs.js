// The logs page: stored log records, newest first, paged with the API's cursor.
import {
  api, badge, clearAlert, el, fillTable, localInputToIso, showAlert, startPage, timeEl,
} from "./app.js";

const $ = (id) => document.getElementById(id);
// The cursors of the pages shown so far: [null (first page), cursor of page 2, ...].
let cursors = [null];
let nextCursor = null;

function query() {
  const form = $("log-filters").elements;
  return {
    level: form.level.value,
    search: form.search.value.trim(),
    module: form.module.value.trim(),
    after: localInputToIso(form.after.value),
    before: localInputToIso(form.before.value),
    limit: form.limit.value,
  };
}

async function show(pageIndex) {
  clearAlert($("log-error"));
  try {
    const page = await api("/api/logs", { query: { ...query(), cursor: cursors[pageIndex] } });
    cursors = cursors.slice(0, pageIndex + 1);
    nextCursor = page.nextCursor;
    fillTable($("logs-table").tBodies[0], page.logs.map((record) => el("tr", {},
      el("td", {}, timeEl(record.createdAt)),
      el("td", {}, badge(record.level)),
      el("td", {}, el("code", {}, record.module || "")),
      el("td", { class: "message" }, record.message),
      el("td", {}, record.user || ""),
      el("td", {}, record.project || ""))), "No log records match");
    $("logs-page").textContent = `(page ${pageIndex + 1})`;
    $("logs-newer").disabled = pageIndex === 0;
    $("logs-older").disabled = !nextCursor;
  } catch (error) {
    showAlert($("log-error"), error);
  }
}

startPage(async () => {
  $("log-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    cursors = [null];
    show(0);
  });
  $("logs-older").addEventListener("click", () => {
    cursors.push(nextCursor);
    show(cursors.length - 1);
  });
  $("logs-newer").addEventListener("click", () => show(cursors.length - 2));
  await show(0);
});
