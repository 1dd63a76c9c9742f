// Shared by every page: the token, API calls that surface the server's `detail`, the page
// shell (who is logged in, what they may see), small DOM builders and the event websocket.

const TOKEN_KEY = "accessToken"; // where AYON's own web UI keeps the session token

export function token() {
  return localStorage.getItem(TOKEN_KEY);
}

export function saveToken(value) {
  localStorage.setItem(TOKEN_KEY, value);
}

export function forgetToken() {
  localStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

export function goToLogin() {
  if (location.pathname === "/login") return;
  const next = location.pathname + location.search;
  location.assign("/login?next=" + encodeURIComponent(next));
}

function withQuery(path, query) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== undefined && item !== null && item !== "") url.searchParams.append(key, item);
    }
  }
  return url;
}

// Calls the REST API; a non-2xx answer throws ApiError carrying the server's `detail`.
// `session` overrides the stored token (logging out sends the one just forgotten); `file`
// sends a File or Blob as the raw body (an addon upload) instead of JSON.
export async function api(
  path, { method = "GET", body, query, text = false, session, file } = {},
) {
  const headers = {};
  const current = session || token();
  if (current) headers.Authorization = "Bearer " + current;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (file !== undefined) headers["Content-Type"] = file.type || "application/octet-stream";
  let response;
  try {
    response = await fetch(withQuery(path, query), {
      method,
      headers,
      body: file !== undefined ? file : body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, "The server cannot be reached: " + error.message);
  }
  if (response.status === 401) {
    // Only while this token is still the stored one: after a logout the visitor is on the way
    // to the login page already, and a late answer must not send them elsewhere.
    if (current && token() === current) {
      forgetToken();
      goToLogin();
    }
    throw new ApiError(401, "Your session has ended; log in again");
  }
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try {
      const answer = await response.json();
      if (answer && answer.detail !== undefined) {
        detail = typeof answer.detail === "string" ? answer.detail : JSON.stringify(answer.detail);
      }
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(response.status, detail);
  }
  const raw = await response.text();
  if (text) return raw;
  return raw ? JSON.parse(raw) : null; // 201 and 204 answers may have no body

}

// el("td", {class: "num"}, "12"): children are nodes or text (never parsed as HTML).
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export const NO_VALUE = "\u2013";

const localFormat = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit",
});

export function utcText(date) {
  return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

// A <time> in the viewer's time zone, with UTC on hover.
export function timeEl(iso) {
  if (!iso) return document.createTextNode(NO_VALUE);
  const date = new Date(iso);
  return el("time", { datetime: date.toISOString(), title: utcText(date) }, localFormat.format(date));
}

export function formatDuration(ms) {
  if (typeof ms !== "number") return NO_VALUE;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60000).toFixed(1)} min`;
}

export function formatResult(result) {
  if (!result || typeof result !== "object" || !Object.keys(result).length) return NO_VALUE;
  return Object.entries(result)
    .map(([key, value]) => `${key} ${typeof value === "number" ? value.toLocaleString() : value}`)
    .join(" · ");
}

const BADGES = {
  finished: "ok", ok: "ok", active: "ok", success: "ok",
  failed: "bad", aborted: "bad", error: "bad", critical: "bad", disabled: "idle",
  in_progress: "busy", pending: "busy", running: "busy", warning: "busy", restarted: "busy",
  installed: "ok", live: "ok", gone: "idle", production: "ok", staging: "info", dev: "busy",
  skipped: "idle", info: "info", debug: "idle",
};

export function badge(status) {
  return el("span", { class: "badge " + (BADGES[status] || "idle") }, status);
}

export function showAlert(node, error) {
  node.textContent = error instanceof Error ? error.message : String(error);
  node.hidden = false;
}

export function clearAlert(node) {
  node.textContent = "";
  node.hidden = true;
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// A <table> body from rows of cells; an empty list shows one row saying so.
export function fillTable(tbody, rows, emptyText) {
  tbody.replaceChildren(...rows);
  if (!rows.length) {
    const columns = tbody.closest("table").querySelectorAll("thead th").length || 1;
    tbody.append(el("tr", {}, el("td", { colspan: columns, class: "muted" }, emptyText)));
  }
}

// A datetime-local value (the viewer's time) as ISO 8601 UTC, for the API.
export function localInputToIso(value) {
  return value ? new Date(value).toISOString() : undefined;
}

const POLICY_VIOLATION = 1008; // the server refused the token

function showLive(state, text) {
  document.body.dataset.live = state;
  const badgeNode = document.getElementById("live-state");
  badgeNode.hidden = false;
  badgeNode.className = "live " + state;
  badgeNode.textContent = text;
}

// The /ws event stream: AYON's protocol (auth with the token, then topic subscriptions).
// Reconnects after a drop; body[data-live] and the header's badge tell whether it is connected.
// `onConnect` runs on every (re)connection: what happened while disconnected was not sent.
export function connectEvents(topics, onMessage, { onConnect } = {}) {
  let socket;
  let closed = false;
  function open() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${scheme}//${location.host}/ws`);
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ topic: "auth", token: token(), subscribe: topics }));
    });
    socket.addEventListener("message", (message) => {
      const data = JSON.parse(message.data);
      if (data.topic === "heartbeat") {
        if (document.body.dataset.live !== "connected") {
          const reconnected = document.body.dataset.live === "disconnected";
          showLive("connected", "live");
          if (reconnected && onConnect) onConnect();
        }
        return;
      }
      onMessage(data);
    });
    socket.addEventListener("close", (event) => {
      if (event.code === POLICY_VIOLATION) {
        closed = true; // reconnecting with the same token would be refused again
        showLive("disconnected", "not live: " + (event.reason || "refused"));
        return;
      }
      showLive("disconnected", "reconnecting…");
      if (!closed) setTimeout(open, 2000);
    });
  }
  open();
  return {
    subscribe(newTopics) {
      topics = newTopics;
      if (socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify({ topic: "subscribe", subscribe: topics }));
      }
    },
    close() {
      closed = true;
      socket.close();
    },
  };
}

function rolesOf(user) {
  const data = user.data || {};
  return {
    admin: Boolean(data.isAdmin),
    manager: Boolean(data.isAdmin || data.isManager),
    user: true,
  };
}

// Runs a page: sends a visitor without a session to the login page, shows who is logged in,
// hides what their role may not use, then calls init(me) and shows any error it throws.
export async function startPage(init) {
  if (!token()) {
    goToLogin();
    return;
  }
  const pageError = document.getElementById("page-error");
  let me;
  try {
    me = await api("/api/users/me");
  } catch (error) {
    showAlert(pageError, error);
    return;
  }
  const roles = rolesOf(me);
  document.getElementById("current-user").textContent =
    me.name + (roles.admin ? " (admin)" : roles.manager ? " (manager)" : "");
  for (const item of document.querySelectorAll("[data-audience]")) {
    if (item !== document.body) item.hidden = !roles[item.dataset.audience];
  }
  document.getElementById("logout").addEventListener("click", async () => {
    const session = token();
    forgetToken();
    try {
      await api("/api/auth/logout", { method: "POST", session });
    } catch {
      // Unreachable server: the session still ends with its expiry.
    } finally {
      location.assign("/login");
    }
  });
  if (!roles[document.body.dataset.audience]) {
    document.getElementById("forbidden").hidden = false;
    return;
  }
  document.getElementById("page-body").hidden = false;
  try {
    await init(me, roles);
    document.body.dataset.ready = "true";
  } catch (error) {
    showAlert(pageError, error);
  }
}
