// The maintenance page: state and live progress, run controls, schedule with preview,
// settings, per-task toggles, history and charts.
import {
  NO_VALUE, api, badge, clearAlert, connectEvents, debounce, el, fillTable, formatDuration,
  formatResult, showAlert, startPage, timeEl,
} from "./app.js";

const $ = (id) => document.getElementById(id);
const ACTIVE = new Set(["pending", "in_progress"]);
const CHARTS = ["durations", "removed", "sizes"];
const HISTORY_SIZE = 25;
// While a run goes on, the state is also re-read this often: a websocket message lost in a
// reconnect must not leave the page showing a task long finished.
const RUNNING_POLL_MS = 5000;
let state = null;
// The runs that have ended, newest first (as far as the history goes).
let ended = [];
let lastEnded = null;
// Runs whose details the viewer opened: kept open when the history is redrawn.
const expanded = new Set();

function flash(node, text) {
  node.textContent = text;
  node.hidden = false;
}

// Each task's entry in the newest ended run that has one (a run of one task names only it).
function lastTaskOutcomes() {
  const outcomes = new Map();
  for (const run of ended) {
    for (const task of run.tasks) if (!outcomes.has(task.name)) outcomes.set(task.name, task);
  }
  return outcomes;
}

function showProgress(runProgress, current) {
  $("progress-block").hidden = false;
  const run = typeof runProgress === "number" ? runProgress : 0;
  $("run-progress").value = run;
  const task = $("task-progress");
  if (current && typeof current.progress === "number") task.value = current.progress;
  else task.removeAttribute("value"); // indeterminate: the task does not know its total
  const title = current ? current.title || current.name : "starting";
  $("progress-text").textContent = `${title} · run ${Math.round(run)} %`;
}

function renderState() {
  const running = state.running;
  $("run-state").replaceChildren(running ? badge("in_progress") : badge("idle"),
    running && state.current ? ` ${state.current.title}` : "");
  const last = lastEnded;
  $("last-run").replaceChildren(...(last
    ? [badge(last.status), " ", last.description || "", " · started ", timeEl(last.startedAt),
      " · took ", formatDuration(last.durationMs)]
    : ["maintenance has not run yet"]));
  $("next-run").replaceChildren(state.nextRun
    ? timeEl(state.nextRun) : "not scheduled (maintenance disabled)");
  if (running) showProgress(state.progress, state.current);
  else $("progress-block").hidden = true;
  $("cancel-run").disabled = !running;
  for (const id of ["run-now", "dry-run", "run-task"]) $(id).disabled = running;
  document.body.dataset.running = String(running);
}

async function toggleTask(task, checkbox) {
  clearAlert($("tasks-error"));
  try {
    await api("/api/config/maintenance", {
      method: "PATCH", body: { tasks: { [task.name]: { enabled: checkbox.checked } } },
    });
    task.enabled = checkbox.checked;
    checkbox.closest("tr").classList.toggle("off", !checkbox.checked);
  } catch (error) {
    checkbox.checked = !checkbox.checked;
    showAlert($("tasks-error"), error);
  }
}

function renderTasks() {
  const outcomes = lastTaskOutcomes();
  fillTable($("tasks-table").tBodies[0], state.tasks.map((task) => {
    const last = outcomes.get(task.name);
    const checkbox = el("input", {
      type: "checkbox", checked: task.enabled, "aria-label": `Enable ${task.title}`,
      dataset: { task: task.name },
    });
    checkbox.addEventListener("change", () => toggleTask(task, checkbox));
    return el("tr", { class: task.enabled ? "" : "off" },
      el("td", {}, checkbox),
      el("td", {}, el("code", {}, task.name)),
      el("td", {}, task.title),
      el("td", {}, last ? badge(last.status) : NO_VALUE,
        last?.error ? el("span", { class: "error" }, " ", last.error) : ""),
      el("td", { class: "num" }, last?.status === "skipped" ? NO_VALUE : formatDuration(last?.durationMs)),
      el("td", {}, formatResult(last?.result)));
  }), "No tasks");
  const select = $("one-task");
  if (!select.options.length) {
    select.append(...state.tasks.map((task) => el("option", { value: task.name }, task.title)));
  }
}

let stateRequests = 0;

async function loadState() {
  const request = ++stateRequests;
  const [current, history] = await Promise.all([
    api("/api/maintenance"),
    api("/api/maintenance/history", { query: { limit: HISTORY_SIZE } }),
  ]);
  // An answer overtaken by a later request is older news: a run that ended may read as running.
  if (request !== stateRequests) return;
  state = current;
  ended = history.items.filter((run) => !ACTIVE.has(run.status));
  lastEnded = ended[0] || null;
  renderState();
  renderTasks();
  fillTable($("history-table").tBodies[0], history.items.flatMap(historyRows), "No runs yet");
}

function historyRows(run) {
  const detailId = `run-detail-${run.id}`;
  const isOpen = expanded.has(run.id);
  const toggle = el("button", {
    type: "button", class: "link", "aria-expanded": String(isOpen), "aria-controls": detailId,
    "aria-label": `Details of the run started ${new Date(run.startedAt).toLocaleString()}`,
  }, isOpen ? "▾" : "▸");
  const detail = el("tr", { id: detailId, class: "detail", hidden: !isOpen },
    el("td", { colspan: 6 }, el("table", { class: "inner" },
      el("thead", {}, el("tr", {}, ...["Task", "Title", "Status", "Duration", "Result", "Error"]
        .map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, ...run.tasks.map((task) => el("tr", {},
        el("td", {}, el("code", {}, task.name)),
        el("td", {}, task.title || ""),
        el("td", {}, badge(task.status || "unknown")),
        el("td", { class: "num" }, formatDuration(task.durationMs)),
        el("td", {}, formatResult(task.result)),
        el("td", { class: "error" }, task.error || "")))))));
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    toggle.textContent = open ? "▾" : "▸";
    detail.hidden = !open;
    if (open) expanded.add(run.id);
    else expanded.delete(run.id);
  });
  const trigger = (run.trigger || NO_VALUE) + (run.dryRun ? " (dry run)" : "");
  return [
    el("tr", { class: "run" },
      el("td", {}, toggle),
      el("td", {}, badge(run.status)),
      el("td", {}, trigger),
      el("td", {}, timeEl(run.startedAt)),
      el("td", { class: "num" }, formatDuration(run.durationMs)),
      el("td", {}, run.description)),
    detail,
  ];
}

async function loadCharts() {
  await Promise.all(CHARTS.map(async (name) => {
    const figure = $(`chart-${name}`);
    try {
      figure.innerHTML = await api(`/api/maintenance/charts/${name}`, { text: true });
    } catch (error) {
      figure.replaceChildren(el("p", { class: "alert" }, error.message));
    }
  }));
}

const previewSchedule = debounce(async () => {
  const form = $("schedule-form");
  const error = $("schedule-error");
  try {
    const preview = await api("/api/maintenance/schedule/preview", {
      query: { schedule: form.elements.schedule.value, timezone: form.elements.timezone.value },
    });
    clearAlert(error);
    // The API answers in the schedule's own zone: show that wall time too when it differs.
    const viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    $("schedule-preview").replaceChildren(...preview.nextRuns.map((iso) => el("li", {}, timeEl(iso),
      preview.timezone !== viewerZone
        ? el("span", { class: "muted" }, ` · ${iso.slice(11, 16)} in ${preview.timezone}`) : "")));
  } catch (failure) {
    $("schedule-preview").replaceChildren();
    showAlert(error, failure);
  }
}, 250);

function fillConfig(config) {
  const schedule = $("schedule-form").elements;
  schedule.enabled.checked = config.enabled;
  schedule.schedule.value = config.schedule;
  schedule.timezone.value = config.timezone;
  for (const input of $("settings-form").querySelectorAll("input, select")) {
    const value = config[input.name];
    input.value = value === null || value === undefined ? "" : value;
  }
}

async function saveSchedule(event) {
  event.preventDefault();
  const form = event.target.elements;
  clearAlert($("schedule-error"));
  $("schedule-saved").hidden = true;
  try {
    const config = await api("/api/config/maintenance", {
      method: "PATCH",
      body: { enabled: form.enabled.checked, schedule: form.schedule.value.trim(),
        timezone: form.timezone.value.trim() },
    });
    fillConfig(config);
    flash($("schedule-saved"), "Schedule saved");
    await loadState();
  } catch (error) {
    showAlert($("schedule-error"), error);
  }
}

async function saveSettings(event) {
  event.preventDefault();
  clearAlert($("settings-error"));
  $("settings-saved").hidden = true;
  const patch = {};
  for (const input of event.target.querySelectorAll("input, select")) {
    if (input.type === "number") {
      // An empty box is "none": the server accepts it where a setting may be unset.
      patch[input.name] = input.value === "" ? null : Number(input.value);
    } else {
      patch[input.name] = input.value;
    }
  }
  try {
    fillConfig(await api("/api/config/maintenance", { method: "PATCH", body: patch }));
    flash($("settings-saved"), "Settings saved");
  } catch (error) {
    showAlert($("settings-error"), error);
  }
}

async function startRun(body, what) {
  clearAlert($("run-error"));
  $("run-message").hidden = true;
  try {
    await api("/api/maintenance/run", { method: "POST", body });
    flash($("run-message"), `${what} started`);
  } catch (error) {
    showAlert($("run-error"), error);
  }
  await loadState();
}

async function cancelRun() {
  clearAlert($("run-error"));
  try {
    await api("/api/maintenance/cancel", { method: "POST" });
    flash($("run-message"), "Cancel requested: the run stops at the next batch");
  } catch (error) {
    showAlert($("run-error"), error);
  }
}

const refreshAll = debounce(async () => {
  try {
    await Promise.all([loadState(), loadCharts()]);
  } catch (error) {
    showAlert($("page-error"), error);
  }
}, 300);

function onRunMessage(message) {
  if (ACTIVE.has(message.status)) {
    const summary = message.summary || {};
    // A run that started, or moved to its next task: the history row shows the new task.
    if (!state?.running || summary.current?.name !== state.current?.name) refreshAll();
    else showProgress(summary.progress ?? message.progress, summary.current);
    if (summary.current) {
      $("run-state").replaceChildren(badge("in_progress"), ` ${summary.current.title}`);
    }
  } else {
    refreshAll();
  }
}

startPage(async () => {
  $("schedule-form").addEventListener("submit", saveSchedule);
  $("settings-form").addEventListener("submit", saveSettings);
  $("schedule-cron").addEventListener("input", previewSchedule);
  $("schedule-timezone").addEventListener("input", previewSchedule);
  $("run-now").addEventListener("click", () => startRun({}, "Run"));
  $("dry-run").addEventListener("click", () => startRun({ dryRun: true }, "Dry run"));
  $("run-task").addEventListener("click", () => {
    const select = $("one-task");
    startRun({ tasks: [select.value] }, select.selectedOptions[0].textContent);
  });
  $("cancel-run").addEventListener("click", cancelRun);
  connectEvents(["server.maintenance"], onRunMessage, { onConnect: refreshAll });
  setInterval(() => {
    if (state?.running) loadState().catch((error) => showAlert($("page-error"), error));
  }, RUNNING_POLL_MS);
  fillConfig(await api("/api/config/maintenance"));
  previewSchedule();
  await Promise.all([loadState(), loadCharts()]);
});
