import { useState, type FormEvent } from "react";
import { Navigate, useLocation } from "react-router";
import { errorKind, errorMessage } from "../../api";
import { useSession } from "../../app/session";
import styles from "./LoginPage.module.css";

type Mode = "password" | "token";

// LoginPage signs in with a user's password (or LDAP) through IAM Login,
// which sets an HttpOnly session cookie, or with a pasted API token (such as
// the admin token `strata dev` writes to .data/admin.token).
export function LoginPage() {
  const { session, loginWithPassword, loginWithToken } = useSession();
  const location = useLocation();
  const [mode, setMode] = useState<Mode>("password");
  const [user, setUser] = useState("");
  const [password, setPassword] = useState("");
  const [token, setTokenValue] = useState("");
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const next = (location.state as { from?: string } | null)?.from ?? "/apps";
  if (session.state === "signed-in") return <Navigate to={next} replace />;
  const notice = session.state === "anonymous" ? session.message : undefined;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      if (mode === "password") await loginWithPassword(user.trim(), password);
      else await loginWithToken(token);
    } catch (err) {
      setError(
        errorKind(err) === "unauthenticated"
          ? mode === "password"
            ? "Wrong user name or password."
            : "The API does not accept this token (unknown, expired or revoked)."
          : errorMessage(err),
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className={styles.page}>
      <form className={styles.card} onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title" className={styles.title}>
          <img src="/favicon.svg" alt="" width={28} height={28} /> Sign in to Strata
        </h1>
        {notice && (
          <p className={styles.notice} role="status">
            {notice}
          </p>
        )}
        <div className={styles.tabs} role="radiogroup" aria-label="How to sign in">
          <label className={mode === "password" ? styles.tabOn : styles.tab}>
            <input type="radio" name="mode" value="password" checked={mode === "password"} onChange={() => setMode("password")} />
            User and password
          </label>
          <label className={mode === "token" ? styles.tabOn : styles.tab}>
            <input type="radio" name="mode" value="token" checked={mode === "token"} onChange={() => setMode("token")} />
            API token
          </label>
        </div>
        {mode === "password" ? (
          <>
            <label className={styles.field}>
              <span>User name</span>
              <input name="user" autoComplete="username" required value={user} onChange={(e) => setUser(e.target.value)} autoFocus />
            </label>
            <label className={styles.field}>
              <span>Password</span>
              <input name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
            </label>
            <p className={styles.help}>Local users and LDAP users sign in here. The session ends when it expires or you sign out.</p>
          </>
        ) : (
          <>
            <label className={styles.field}>
              <span>API token</span>
              <input name="token" type="password" autoComplete="off" spellCheck={false} required value={token} onChange={(e) => setTokenValue(e.target.value)} autoFocus />
            </label>
            <p className={styles.help}>
              An API token (<code>strata token create</code>) or, on a fresh install, the admin token: <code>cat .data/admin.token</code>. It is
              kept in this tab only and forgotten when the tab closes.
            </p>
          </>
        )}
        {error && (
          <p className={styles.error} role="alert">
            {error}
          </p>
        )}
        <button type="submit" className={styles.submit} disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
