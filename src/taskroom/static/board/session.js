// The signed-in session: access token and user, kept in sessionStorage.
// sessionStorage, not localStorage: the bearer token lives only as long as the tab, is not shared with
// other tabs and is gone when the tab closes; a reload keeps it. A new tab signs in again.

const KEY = "taskroom.session";

export function loadSession() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(KEY) || "null");
    if (!saved || typeof saved.token !== "string" || !saved.user) return null;
    if (saved.expiresAt && Date.now() >= saved.expiresAt) {
      clearSession();
      return null;
    }
    return saved;
  } catch {
    return null;
  }
}

export function saveSession(auth) {
  const session = {
    token: auth.accessToken,
    user: auth.user,
    expiresAt: Date.now() + auth.expiresIn * 1000,
  };
  sessionStorage.setItem(KEY, JSON.stringify(session));
  return session;
}

export function clearSession() {
  sessionStorage.removeItem(KEY);
}
