// Who is signed in, shared by every page. Whether to ask at all is told by the golive_csrf
// cookie, which golive sets beside the session cookie: without it there is no session, and
// not asking spares a 401 in the console of every visitor who is not signed in.
import { reactive } from "vue";
import { api, ApiError, cookie } from "./api.js";

export const session = reactive({ user: null, checked: false });

let checking = null;

export function loadSession() {
  if (session.checked) return Promise.resolve(session.user);
  if (!checking) {
    checking = (async () => {
      if (cookie("golive_csrf")) {
        try {
          session.user = await api("/api/me");
        } catch (error) {
          if (!(error instanceof ApiError) || error.status !== 401) throw error;
          session.user = null;
        }
      }
      session.checked = true;
      checking = null;
      return session.user;
    })();
  }
  return checking;
}

export async function logIn(username, password) {
  const answer = await api("/api/sessions", { method: "POST", body: { username, password } });
  session.user = answer.user;
  session.checked = true;
  return answer.user;
}

export async function signUp(username, email, password) {
  await api("/api/users", { method: "POST", body: { username, email, password } });
  return logIn(username, password);
}

export async function logOut() {
  try {
    await api("/api/sessions/current", { method: "DELETE" });
  } catch (error) {
    // An ended session is logged out already.
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
  }
  session.user = null;
  session.checked = true;
}
