import { useEffect, useRef, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { client, ConfigService } from "../../api";
import type { AppSummary, Release } from "../../gen/strata/config/v1/config_pb";
import { Table, type Column } from "../../components/Table";
import { ErrorPanel } from "../../components/ErrorPanel";
import { Badge, Loading, PageHeader, Section } from "../../components/Page";
import { formatTime, plural } from "../../lib/format";
import { WriteError } from "../app/forms";
import { useCanEdit } from "../app/canEdit";
import { DiffView } from "./DiffView";
import styles from "./ReleasesPage.module.css";

// objectJSON picks one upstream or rule (by name) out of an app's JSON, as
// JSON again ("" when the app has none of that name).
export function objectJSON(appJSON: string, kind: "upstream" | "rule", name: string): string {
  if (!appJSON.trim()) return "";
  const app = JSON.parse(appJSON) as Record<string, unknown>;
  const list = (app[kind === "upstream" ? "upstreams" : "rules"] ?? []) as { name?: string }[];
  const o = list.find((x) => x.name === name);
  return o ? JSON.stringify(o) : "";
}

function objectNames(appJSON: string, kind: "upstream" | "rule"): string[] {
  if (!appJSON.trim()) return [];
  const app = JSON.parse(appJSON) as Record<string, unknown>;
  return ((app[kind === "upstream" ? "upstreams" : "rules"] ?? []) as { name?: string }[]).map((x) => x.name ?? "").filter(Boolean);
}

function kindLabel(r: Release): string {
  if (r.kind === "revert") return `revert to #${r.revertedTo}`;
  if (r.kind === "object_revert") return `${r.object} reverted to #${r.revertedTo}`;
  return "release";
}

type Target = { release: Release; object: boolean };

// RevertDialog confirms a revert: it shows what will change (the newest
// release against the target release's content, for the whole app or one
// object) before anything is applied.
function RevertDialog({ appId, target, onClose, onDone }: { appId: string; target: Target; onClose: () => void; onDone: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const to = target.release.number;
  const d = useQuery(ConfigService.method.diffApp, { appId, toRelease: to });
  const [kind, setKind] = useState<"upstream" | "rule">("upstream");
  const [name, setName] = useState("");
  const [note, setNote] = useState("");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    const el = ref.current;
    if (el && !el.open) el.showModal?.();
  }, []);
  const names = d.data ? [...new Set([...objectNames(d.data.releasedJson, kind), ...objectNames(d.data.pendingJson, kind)])] : [];
  const obj = name || names[0] || "";
  const confirm = async () => {
    if (!d.data) return;
    setBusy(true);
    setError(undefined);
    try {
      const c = client(ConfigService);
      if (target.object) await c.revertObject({ appId, expectedVersion: d.data.version, kind, object: obj, toRelease: to, note });
      else await c.revertApp({ appId, expectedVersion: d.data.version, toRelease: to, note });
      onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const title = target.object ? `Revert one object to release #${to}` : `Revert the app to release #${to}`;
  return (
    <dialog ref={ref} className={styles.dialog} aria-labelledby="revert-title" onClose={onClose}>
      <h2 id="revert-title">{title}</h2>
      <p>A new release is made at once with this content; every node gets it. Pending changes stay pending.</p>
      {target.object && (
        <div className={styles.row}>
          <label>
            Kind{" "}
            <select value={kind} onChange={(e) => (setKind(e.target.value as "upstream" | "rule"), setName(""))}>
              <option value="upstream">upstream</option>
              <option value="rule">rule</option>
            </select>
          </label>
          <label>
            Object{" "}
            <select value={obj} onChange={(e) => setName(e.target.value)}>
              {names.map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          </label>
        </div>
      )}
      {d.error ? (
        <ErrorPanel error={d.error} what="compare the releases" />
      ) : !d.data ? (
        <Loading what="what will change" />
      ) : target.object ? (
        <DiffView caption={`${kind} ${obj}: what will change`} before={objectJSON(d.data.releasedJson, kind, obj)} after={objectJSON(d.data.pendingJson, kind, obj)} leftTitle="Live now" rightTitle={`After the revert (as in #${to})`} />
      ) : (
        <DiffView caption="What will change" before={d.data.releasedJson} after={d.data.pendingJson} leftTitle="Live now" rightTitle={`After the revert (as in #${to})`} />
      )}
      <label className={styles.note}>
        Note
        <input value={note} onChange={(e) => setNote(e.target.value)} placeholder="why" />
      </label>
      <WriteError error={error} what="revert" onReload={() => void d.refetch()} />
      <div className={styles.row}>
        <button type="button" className={styles.primary} disabled={busy || !d.data || (target.object && !obj)} onClick={confirm}>
          {target.object ? `Revert ${kind} ${obj}` : `Revert to release #${to}`}
        </button>
        <button type="button" onClick={() => ref.current?.close()}>
          Cancel
        </button>
      </div>
    </dialog>
  );
}

function AppReleases({ appId }: { appId: string }) {
  const app = useQuery(ConfigService.method.getApp, { appId });
  const diff = useQuery(ConfigService.method.diffApp, { appId });
  const rels = useQuery(ConfigService.method.listReleases, { appId });
  const qc = useQueryClient();
  const canEdit = useCanEdit();
  const [note, setNote] = useState("");
  const [staging, setStaging] = useState(false);
  const [error, setError] = useState<{ err: unknown; what: string }>();
  const [busy, setBusy] = useState(false);
  const [target, setTarget] = useState<Target | null>(null);
  const reload = () => void qc.invalidateQueries();
  if (app.error) return <ErrorPanel error={app.error} what="show this application" />;
  if (app.isPending) return <Loading what="the application" />;
  const a = app.data.app!;
  const c = client(ConfigService);
  const run = async (what: string, call: () => Promise<unknown>) => {
    setBusy(true);
    setError(undefined);
    try {
      await call();
      setNote("");
      reload();
    } catch (err) {
      setError({ err, what });
    } finally {
      setBusy(false);
    }
  };
  const pending = diff.data?.changes ?? [];
  const stable = rels.data?.stableRelease ?? 0n;
  const stag = rels.data?.stagingRelease ?? 0n;
  const latest = rels.data?.releases[0]?.number ?? 0n;
  const cols: Column<Release>[] = [
    { key: "n", header: "#", numeric: true, cell: (r) => r.number.toString() },
    { key: "kind", header: "Kind", cell: (r) => kindLabel(r) },
    { key: "note", header: "Note", cell: (r) => r.note || <span className={styles.muted}>—</span> },
    { key: "actor", header: "By", cell: (r) => r.actor },
    { key: "time", header: "When", cell: (r) => formatTime(r.time) },
    {
      key: "track",
      header: "Nodes",
      cell: (r) => (
        <>
          {r.number === stable && <Badge tone="ok">stable</Badge>} {r.number === stag && r.number !== stable && <Badge tone="info">staging</Badge>}
          {r.staging && r.promotedBy && <span className={styles.muted}> promoted by {r.promotedBy}</span>}
        </>
      ),
    },
    {
      key: "revert",
      header: "Revert",
      cell: (r) => (
        <span className={styles.row}>
          <button type="button" disabled={!canEdit || r.number === latest} aria-label={`Revert to release ${r.number}`} onClick={() => setTarget({ release: r, object: false })}>
            Revert to this
          </button>
          <button type="button" disabled={!canEdit} aria-label={`Revert one object to release ${r.number}`} onClick={() => setTarget({ release: r, object: true })}>
            One object…
          </button>
        </span>
      ),
    },
  ];
  return (
    <>
      <nav aria-label="Breadcrumb" className={styles.crumbs}>
        <Link to="/releases">Releases</Link> / <Link to={`/apps/${a.id}`}>{a.name}</Link>
      </nav>
      <PageHeader title={`Releases of ${a.name}`} description={<>Stable nodes run {stable ? `#${stable}` : "nothing yet"}{stag > stable ? `, staging nodes #${stag}` : ""}.</>} />
      {error && <WriteError error={error.err} what={error.what} onReload={reload} />}
      <Section title="Pending changes">
        {diff.error ? (
          <ErrorPanel error={diff.error} what="show the pending changes" />
        ) : !diff.data ? (
          <Loading what="the pending changes" />
        ) : pending.length === 0 ? (
          <p className={styles.muted}>No unreleased changes: the nodes run the working copy.</p>
        ) : (
          <>
            <ol className={styles.changes}>
              {pending.map((p) => (
                <li key={p.position.toString()}>
                  {p.summary} <span className={styles.muted}>— {p.actor}, {formatTime(p.time)}</span>
                </li>
              ))}
            </ol>
            <DiffView caption="Pending changes" before={diff.data.releasedJson} after={diff.data.pendingJson} leftTitle={latest ? `Release #${latest}` : "Nothing released"} rightTitle="Working copy" />
            <form
              className={styles.release}
              onSubmit={(e) => {
                e.preventDefault();
                void run("release", () => c.createRelease({ appId: a.id, expectedVersion: diff.data!.version, note, staging }));
              }}
            >
              <label className={styles.note}>
                Release note
                <input value={note} onChange={(e) => setNote(e.target.value)} placeholder="what and why" />
              </label>
              <label className={styles.check}>
                <input type="checkbox" checked={staging} onChange={(e) => setStaging(e.target.checked)} /> Staging nodes only (promote later)
              </label>
              <button type="submit" className={styles.primary} disabled={!canEdit || busy}>
                {staging ? "Release to staging" : "Release"}
              </button>
            </form>
          </>
        )}
      </Section>
      {stag > stable && (
        <Section title="Staging">
          <p>
            Staging nodes run #{stag.toString()}, stable nodes #{stable.toString()}.
          </p>
          <button type="button" className={styles.primary} disabled={!canEdit || busy} onClick={() => run("promote", () => c.promoteRelease({ appId: a.id, expectedVersion: diff.data?.version ?? app.data.version, note }))}>
            Promote #{stag.toString()} to every node
          </button>
        </Section>
      )}
      <Section title="History">
        {rels.error ? (
          <ErrorPanel error={rels.error} what="list the releases" />
        ) : !rels.data ? (
          <Loading what="the releases" />
        ) : (
          <Table caption={`Releases of ${a.name}, newest first`} hideCaption columns={cols} rows={rels.data.releases} rowKey={(r) => r.number.toString()} empty="Never released." />
        )}
      </Section>
      {target && <RevertDialog key={`${target.release.number}-${target.object}`} appId={a.id} target={target} onClose={() => setTarget(null)} onDone={() => (setTarget(null), reload())} />}
    </>
  );
}

function AppList() {
  const [all, setAll] = useState(false);
  // The server filters (and pages: the first 1000 are shown).
  const apps = useQuery(ConfigService.method.listApps, { pageSize: 1000, filter: all ? "" : "unreleased = true" });
  if (apps.error) return <ErrorPanel error={apps.error} what="list applications" />;
  if (apps.isPending) return <Loading what="applications" />;
  const rows = apps.data.apps.filter((a) => !a.deleted && (all || a.pendingChanges > 0));
  const more = apps.data.nextPageToken !== "";
  const cols: Column<AppSummary>[] = [
    { key: "name", header: "Application", sortValue: (a) => a.name, cell: (a) => <Link to={`/releases?app=${a.id}`}>{a.name}</Link> },
    { key: "pending", header: "Unreleased changes", sortValue: (a) => a.pendingChanges, cell: (a) => (a.pendingChanges ? <Badge tone="warn">{plural(a.pendingChanges, "change")}</Badge> : <Badge tone="ok">released</Badge>) },
    { key: "release", header: "Stable", numeric: true, cell: (a) => (a.stableRelease ? `#${a.stableRelease}` : "—") },
    { key: "staging", header: "Staging", numeric: true, cell: (a) => (a.stagingRelease > a.stableRelease ? `#${a.stagingRelease}` : "—") },
  ];
  return (
    <>
      <PageHeader title="Releases" description="Review pending changes, release them (to staging first if you like), and revert." />
      <label className={styles.check}>
        <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} /> Show every application, not only those with unreleased changes
      </label>
      <Table caption={all ? "Applications" : "Applications with unreleased changes"} columns={cols} rows={rows} rowKey={(a) => a.id} initialSort={{ key: "name", dir: "asc" }} empty={all ? "No applications." : "Every application is released."} />
      {more && <p className={styles.muted}>Only the first 1000 are listed; search on the Applications page.</p>}
    </>
  );
}

export function ReleasesPage() {
  const [params] = useSearchParams();
  const app = params.get("app");
  return app ? <AppReleases appId={app} /> : <AppList />;
}
