import { ApiError, api, saveToken, showAlert, clearAlert, token } from "./app.js";

// Only a path of this server: never send a visitor on to another site.
function nextPage() {
  const next = new URLSearchParams(location.search).get("next") || "";
  return /^\/(?![/\\])/.test(next) && !next.startsWith("/login") ? next : "/maintenance";
}

async function goOnIfLoggedIn() {
  if (!token()) return;
  try {
    await api("/api/users/me");
    location.replace(nextPage());
  } catch {
    // not valid any more: stay here
  }
}

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearAlert(error);
  const body = { name: form.elements.name.value.trim(), password: form.elements.password.value };
  if (!body.name || !body.password) {
    showAlert(error, "Enter your user name and password");
    return;
  }
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const answer = await api("/api/auth/login", { method: "POST", body });
    saveToken(answer.token);
    location.assign(nextPage());
  } catch (failure) {
    showAlert(error, failure instanceof ApiError ? failure.message : String(failure));
  } finally {
    button.disabled = false;
  }
});

goOnIfLoggedIn();
