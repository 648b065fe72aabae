// Credentials of the console. A password login gets an HttpOnly session
// cookie from the API (IAM Login), invisible to scripts; a pasted API token is
// kept in sessionStorage (this tab only, gone when it closes) and sent as
// "Authorization: Bearer". Listeners hear about expiry (any 401).

const tokenKey = "strata.token";

export function getToken(): string | null {
  try {
    return sessionStorage.getItem(tokenKey);
  } catch {
    return null;
  }
}

export function setToken(token: string): void {
  sessionStorage.setItem(tokenKey, token.trim());
}

export function clearToken(): void {
  try {
    sessionStorage.removeItem(tokenKey);
  } catch {
    // storage unavailable: nothing kept
  }
}

type Listener = (reason: string) => void;
const listeners = new Set<Listener>();

// onUnauthenticated registers a listener for a call refused with
// "unauthenticated" (expired session, revoked token); returns its removal.
export function onUnauthenticated(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

export function notifyUnauthenticated(reason: string): void {
  for (const l of listeners) l(reason);
}
