// The signed-in session of the board: a TaskroomSession of the client module in the cookie mode.
// The access token lives in memory only; the refresh token is an HttpOnly cookie that no script of the
// page can read, so a script injected into the page cannot carry the session away. A second tab picks
// the session up from the cookie; renewals of all tabs go through one Web Lock (a refresh token is
// spent on its first use); a sign-out in one tab signs every tab out (BroadcastChannel).
// docs/security.md has the reasons.

import { TaskroomSession } from "./client/taskroom.js";

// What an earlier version of the board kept in sessionStorage (an access token): dropped on load.
const OLD_KEY = "taskroom.session";

export function createSession() {
  try {
    sessionStorage.removeItem(OLD_KEY);
  } catch {
    // storage disabled: nothing was kept there either
  }
  // Relative to the page, so the board also works under a proxy's path prefix.
  return new TaskroomSession({ url: new URL(".", document.baseURI).href, refreshTokenIn: "cookie" });
}
