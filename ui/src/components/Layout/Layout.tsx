import { Suspense, useEffect, useState } from "react";
import { NavLink, Outlet } from "react-router";
import { pages } from "../../pages";
import { useSession } from "../../app/session";
import { CommandPalette } from "../CommandPalette";
import { Loading } from "../Page";
import styles from "./Layout.module.css";

// Layout is the frame of every signed-in page: navigation, the command
// palette (Ctrl/Cmd+K), who is signed in, and the page in <main>.
export function Layout() {
  const { session, logout } = useSession();
  const [palette, setPalette] = useState(false);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "k") {
        e.preventDefault();
        setPalette((p) => !p);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  const me = session.state === "signed-in" ? session.me : undefined;
  const who = me ? (me.kind === "bootstrap" ? "admin token" : me.user?.displayName || me.name) : "";
  return (
    <div className={styles.shell}>
      <a href="#main" className={styles.skip}>
        Skip to content
      </a>
      <header className={styles.top}>
        <NavLink to="/apps" className={styles.brand} aria-label="Strata console home">
          <img src="/favicon.svg" alt="" width={22} height={22} /> Strata
        </NavLink>
        <button type="button" className={styles.search} onClick={() => setPalette(true)} aria-keyshortcuts="Control+K Meta+K">
          Search apps and pages… <kbd>Ctrl K</kbd>
        </button>
        <div className={styles.user}>
          <span title={me ? `${me.kind}: ${me.name}` : undefined}>
            Signed in as <strong>{who}</strong>
          </span>
          <button type="button" onClick={() => void logout()}>
            Sign out
          </button>
        </div>
      </header>
      <nav className={styles.nav} aria-label="Main">
        <ul>
          {pages
            .filter((p) => p.label)
            .map((p) => (
              <li key={p.path}>
                <NavLink to={`/${p.path}`} className={({ isActive }) => (isActive ? `${styles.link} ${styles.active}` : styles.link)}>
                  {p.label}
                </NavLink>
              </li>
            ))}
        </ul>
      </nav>
      <main id="main" className={styles.main} tabIndex={-1}>
        {/* A page may be lazy (Component: lazy(() => import(...))). */}
        <Suspense fallback={<Loading what="the page" />}>
          <Outlet />
        </Suspense>
      </main>
      {palette && <CommandPalette onClose={() => setPalette(false)} />}
    </div>
  );
}
