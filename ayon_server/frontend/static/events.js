// The events page: filtered list, newest first, live over the websocket; detail on click.
import {
  api, badge, clearAlert, connectEvents, debounce, el, fillTable, localInputToIso, showAlert,
  startPage, timeEl,
} from "./app.js";

const $ = (id) => document.getElementById(id);
const PAGE_SIZE = 50;
let events = [];
let cursor = null;
let selected = null;

function filters() {
  const form = $("event-filters").elements;
  return {
    topic: form.topic.value.trim(),
    status: form.status.value,
    project: form.project.value.trim(),
    user: form.user.value.trim(),
    newerThan: localInputToIso(form.newerThan.value),
    olderThan: localInputToIso(form.olderThan.value),
  };
}

function row(event) {
  const tr = el("tr", {
    class: "clickable" + (event.id === selected ? " selected" : ""), tabindex: "0",
    dataset: { id: event.id },
  },
  el("td", {}, timeEl(event.createdAt)),
  el("td", {}, el("code", {}, event.topic)),
  el("td", {}, badge(event.status)),
  el("td", {}, event.project || ""),
  el("td", {}, event.user || ""),
  el("td", {}, event.description || ""));
  const open = () => showDetail(event.id);
  tr.addEventListener("click", open);
  tr.addEventListener("keydown", (key) => { if (key.key === "Enter") open(); });
  return tr;
}

function render() {
  fillTable($("events-table").tBodies[0], events.map(row), "No events match");
  $("events-count").textContent = `(${events.length}${cursor ? "+" : ""})`;
  $("events-more").hidden = !cursor;
}

let requests = 0;

async function load({ more = false } = {}) {
  clearAlert($("filter-error"));
  const request = ++requests;
  try {
    const page = await api("/api/events", {
      query: { ...filters(), limit: PAGE_SIZE, cursor: more ? cursor : undefined },
    });
    if (request !== requests) return; // a later load (new filters, a live change) wins
    events = more ? events.concat(page.events) : page.events;
    cursor = page.nextCursor;
    render();
  } catch (error) {
    showAlert($("filter-error"), error);
  }
}

async function showDetail(id) {
  selected = id;
  for (const tr of $("events-table").tBodies[0].rows) {
    tr.classList.toggle("selected", tr.dataset.id === id);
  }
  try {
    const event = await api(`/api/events/${id}`);
    const facts = [
      ["Id", el("code", {}, event.id)], ["Topic", el("code", {}, event.topic)],
      ["Status", badge(event.status)], ["Created", timeEl(event.createdAt)],
      ["Updated", timeEl(event.updatedAt)], ["Sender", event.sender || ""],
      ["Project", event.project || ""], ["User", event.user || ""],
      ["Description", event.description || ""],
    ];
    $("detail-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    $("detail-summary").textContent = JSON.stringify(event.summary, null, 2);
    $("detail-payload").textContent = JSON.stringify(event.payload, null, 2);
    $("detail-empty").hidden = true;
    $("detail-body").hidden = false;
  } catch (error) {
    showAlert($("filter-error"), error);
  }
}

const reload = debounce(() => load(), 300);
let live = null;

startPage(async () => {
  $("event-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    live.subscribe([filters().topic || "*"]);
    load();
  });
  $("events-more").addEventListener("click", () => load({ more: true }));
  // A change of a subscribed topic reloads the first page with the filters, so a live row
  // obeys them too.
  live = connectEvents(["*"], () => {
    if ($("live").checked) reload();
  });
  await load();
});
