// The users page: admins list, create, disable and re-key users; everyone sees their own
// sessions and can end them all ("log out everywhere").
import {
  NO_VALUE, api, badge, clearAlert, el, fillTable, forgetToken, showAlert, startPage, timeEl,
} from "./app.js";

const $ = (id) => document.getElementById(id);
let me = null;
let isAdmin = false;
let selected = null;

function roleOf(user) {
  const data = user.data || {};
  if (data.isAdmin) return "admin";
  if (data.isService) return "service";
  if (data.isManager) return "manager";
  return "user";
}

function notice(id, ...content) {
  const node = $(id);
  node.replaceChildren(...content);
  node.hidden = false;
}

function newApiKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function act(errorId, action) {
  clearAlert($(errorId));
  try {
    await action();
  } catch (error) {
    showAlert($(errorId), error);
  }
}

function actions(user) {
  if (!isAdmin) return [];
  const buttons = [];
  const toggle = el("button", { type: "button" }, user.active ? "Disable" : "Enable");
  toggle.setAttribute("aria-label", `${user.active ? "Disable" : "Enable"} ${user.name}`);
  toggle.addEventListener("click", () => act("users-error", async () => {
    await api(`/api/users/${encodeURIComponent(user.name)}`, {
      method: "PATCH", body: { active: !user.active },
    });
    await loadUsers();
  }));
  buttons.push(toggle);
  if (roleOf(user) === "service") {
    const rekey = el("button", { type: "button", "aria-label": `New API key for ${user.name}` }, "New API key");
    rekey.addEventListener("click", () => act("users-error", async () => {
      const key = newApiKey();
      await api(`/api/users/${encodeURIComponent(user.name)}/password`, {
        method: "PATCH", body: { apiKey: key },
      });
      notice("users-notice", `New API key of ${user.name} (shown once): `,
        el("span", { class: "secret", id: "new-api-key" }, key));
      await loadUsers();
    }));
    buttons.push(rekey);
  }
  return buttons;
}

function userRow(user) {
  const open = el("button", { type: "button", class: "link", "aria-label": `Open ${user.name}` }, user.name);
  open.addEventListener("click", () => select(user.name));
  return el("tr", { class: user.active ? "" : "off", dataset: { user: user.name } },
    el("td", {}, open),
    el("td", {}, user.attrib?.fullName || ""),
    el("td", {}, roleOf(user)),
    el("td", {}, badge(user.active ? "active" : "disabled")),
    el("td", {}, user.data?.apiKeyPreview ? el("code", {}, user.data.apiKeyPreview) : NO_VALUE),
    el("td", { class: "inline-form" }, ...actions(user)));
}

async function loadUsers() {
  const users = isAdmin ? (await api("/api/users")).users : [me];
  fillTable($("users-table").tBodies[0], users.map(userRow), "No users");
}

async function loadSessions() {
  const { sessions } = await api(`/api/users/${encodeURIComponent(selected)}/sessions`);
  fillTable($("sessions-table").tBodies[0], sessions.map((session) => el("tr", {},
    el("td", {}, timeEl(new Date(session.created * 1000).toISOString())),
    el("td", {}, timeEl(new Date(session.lastUsed * 1000).toISOString())),
    el("td", {}, session.isCurrent ? "this browser" : session.client?.userAgent || NO_VALUE),
    el("td", {}, session.client?.ip || NO_VALUE))), "No sessions");
}

async function select(name) {
  selected = name;
  clearAlert($("selected-error"));
  $("selected-notice").hidden = true;
  $("selected-name").textContent = name;
  $("selected-user").hidden = false;
  await act("selected-error", loadSessions);
}

async function createUser(event) {
  event.preventDefault();
  const form = event.target.elements;
  const role = form.role.value;
  const body = {
    attrib: form.fullName.value.trim() ? { fullName: form.fullName.value.trim() } : {},
    data: { isAdmin: role === "admin", isManager: role === "manager", isService: role === "service" },
  };
  if (form.password.value) body.password = form.password.value;
  await act("new-user-error", async () => {
    await api(`/api/users/${encodeURIComponent(form.name.value.trim())}`, { method: "PUT", body });
    notice("users-notice", `User ${form.name.value.trim()} created`);
    event.target.reset();
    await loadUsers();
  });
}

startPage(async (user, roles) => {
  me = user;
  isAdmin = roles.admin;
  $("new-user-form").addEventListener("submit", createUser);
  $("password-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = event.target.elements.password;
    act("selected-error", async () => {
      await api(`/api/users/${encodeURIComponent(selected)}/password`, {
        method: "PATCH", body: { password: input.value },
      });
      input.value = "";
      notice("selected-notice", `Password of ${selected} changed; their other sessions ended`);
      await loadSessions();
    });
  });
  $("logout-everywhere").addEventListener("click", () => act("selected-error", async () => {
    await api(`/api/users/${encodeURIComponent(selected)}/sessions`, { method: "DELETE" });
    if (selected === me.name) {
      forgetToken();
      location.assign("/login");
      return;
    }
    notice("selected-notice", `Every session of ${selected} ended`);
    await loadSessions();
  }));
  await loadUsers();
  await select(me.name);
});
