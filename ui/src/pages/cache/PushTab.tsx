import { useMemo, useState } from "react";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { ConfigService, PurgeService, errorMessage } from "../../api";
import type { Push } from "../../gen/strata/purge/v1/purge_pb";
import type { NodeInfo } from "../../gen/strata/config/v1/config_pb";
import { Table, type Column } from "../../components/Table";
import { ErrorPanel } from "../../components/ErrorPanel";
import { Badge, Loading, Section } from "../../components/Page";
import { formatTime } from "../../lib/format";
import { splitValues } from "./purgeForm";
import { usePushProgress } from "./usePurgeProgress";
import { ProgressView, bytesText, durationText, progressRows } from "./Progress";
import styles from "./CachePage.module.css";

// checkPushUrl is why a push URL is refused ("" when fine): absolute
// http/https, at most 2048 bytes (the service also checks the host is the app's).
export function checkPushUrl(u: string): string {
  if (u.length > 2048) return `${u.length} bytes, at most 2048`;
  let p: URL;
  try {
    p = new URL(u);
  } catch {
    return `"${u}" is not an absolute URL`;
  }
  if (p.protocol !== "http:" && p.protocol !== "https:") return `"${u}": want http or https`;
  return "";
}

export function PushTab() {
  const [appId, setAppId] = useState("");
  const [urls, setUrls] = useState("");
  const [clusterIds, setClusterIds] = useState<string[]>([]);
  const [concurrency, setConcurrency] = useState("4");
  const [touched, setTouched] = useState(false);
  const [current, setCurrent] = useState("");
  const apps = useQuery(ConfigService.method.listApps, {});
  const clusters = useQuery(ConfigService.method.listClusters, {});
  const nodes = useQuery(ConfigService.method.listNodes, {}, { refetchInterval: current ? 2000 : false });
  const recent = useQuery(PurgeService.method.listPushes, { pageSize: 20 }, { refetchInterval: 2000 });
  const create = useMutation(PurgeService.method.createPush, {
    onSuccess: (res) => {
      setCurrent(res.push?.id ?? "");
      void recent.refetch();
    },
  });

  const list = splitValues(urls);
  const c = Number(concurrency);
  const errors = {
    app: appId ? "" : "Choose the app",
    urls: list.length === 0 ? "At least one URL is required" : list.length > 10000 ? `${list.length} URLs, at most 10000` : list.map((u, i) => [i, checkPushUrl(u)] as const).filter(([, r]) => r).slice(0, 3).map(([i, r]) => `line ${i + 1}: ${r}`).join("; "),
    concurrency: Number.isInteger(c) && c >= 1 && c <= 32 ? "" : "From 1 to 32",
  };
  const ok = !errors.app && !errors.urls && !errors.concurrency;

  return (
    <>
      <form
        className={styles.form}
        aria-label="Push"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          setTouched(true);
          if (ok) create.mutate({ appId, urls: list, clusterIds, concurrency: c });
        }}
      >
        <p className={styles.hint}>Every node of the app's partitions (or of the clusters chosen) fetches the URLs through its own proxy pipeline into its cache.</p>
        <div className={styles.row}>
          <label className={styles.field}>
            <span>App</span>
            <select value={appId} onChange={(e) => setAppId(e.target.value)} aria-invalid={touched && !!errors.app} aria-describedby="push-app-error">
              <option value="">choose…</option>
              {(apps.data?.apps ?? []).filter((a) => !a.deleted).map((a) => (
                <option key={a.id} value={a.id}>
                  {a.name}
                </option>
              ))}
            </select>
            <span id="push-app-error" className={styles.fieldError}>
              {touched && errors.app}
            </span>
          </label>
          <label className={styles.field}>
            <span>URLs fetched at once per node</span>
            <input type="number" min={1} max={32} value={concurrency} onChange={(e) => setConcurrency(e.target.value)} aria-invalid={touched && !!errors.concurrency} aria-describedby="push-conc-error" />
            <span id="push-conc-error" className={styles.fieldError}>
              {touched && errors.concurrency}
            </span>
          </label>
        </div>
        <label className={styles.field}>
          <span>URLs</span>
          <textarea value={urls} onChange={(e) => setUrls(e.target.value)} placeholder="https://shop.example.com/index.html" aria-invalid={touched && !!errors.urls} aria-describedby="push-urls-error" />
          <span id="push-urls-error" className={styles.fieldError}>
            {touched && errors.urls}
          </span>
        </label>
        <fieldset className={styles.fieldset}>
          <legend>Only these clusters (none: every cluster of the app's partitions)</legend>
          {(clusters.data?.clusters ?? []).map((cl) => (
            <label key={cl.id} className={styles.check}>
              <input type="checkbox" checked={clusterIds.includes(cl.id)} onChange={(e) => setClusterIds((ids) => (e.target.checked ? [...ids, cl.id] : ids.filter((x) => x !== cl.id)))} />
              {cl.name}
            </label>
          ))}
        </fieldset>
        <div className={styles.buttons}>
          <button type="submit" className={styles.primary} disabled={create.isPending}>
            Push
          </button>
          {create.error && (
            <span role="alert" className={styles.error}>
              {errorMessage(create.error)}
            </span>
          )}
        </div>
      </form>

      {current && <CurrentPush id={current} nodes={nodes.data?.nodes ?? []} />}

      <Section title="Recent pushes">
        {recent.error ? (
          <ErrorPanel error={recent.error} what="list pushes" />
        ) : recent.isPending ? (
          <Loading what="pushes" />
        ) : (
          <RecentPushes pushes={recent.data.pushes} current={current} select={setCurrent} appName={(id) => apps.data?.apps.find((a) => a.id === id)?.name ?? id} />
        )}
      </Section>
    </>
  );
}

function CurrentPush({ id, nodes }: { id: string; nodes: NodeInfo[] }) {
  const q = usePushProgress(id);
  const p = q.data?.push;
  const rows = useMemo(() => (p ? progressRows(p.acks, nodes, p.partitionIds, !!p.timeToLastAck) : []), [p, nodes]);
  return (
    <Section title={`Push ${id}`}>
      {q.error ? (
        <ErrorPanel error={q.error} what="read the push" />
      ) : !p ? (
        <Loading what="the push" />
      ) : (
        <>
          <p className={styles.hint}>
            {p.urlCount} URLs · {p.urlsFailed} failed so far · requested {formatTime(p.createdAt)} by {p.actor || "—"}
          </p>
          <ProgressView
            label={`Push ${id}`}
            total={p.nodesTotal}
            done={p.nodesDone}
            createdAt={p.createdAt}
            timeToLastAck={p.timeToLastAck}
            rows={rows}
            extra={[
              { key: "cached", header: "Cached", numeric: true, cell: (r) => (r.ack?.push ? r.ack.push.cached : "—") },
              { key: "failed", header: "Failed", numeric: true, cell: (r) => (r.ack?.push ? r.ack.push.failed : "—") },
              { key: "bytes", header: "Bytes", numeric: true, cell: (r) => (r.ack?.push ? bytesText(r.ack.push.bytes) : "—") },
              {
                key: "failures",
                header: "Failed URLs",
                cell: (r) =>
                  r.ack?.push?.failures.length ? (
                    <span className={styles.mono}>{r.ack.push.failures.slice(0, 3).map((f) => `${f.url}: ${f.error || f.status}`).join("; ")}</span>
                  ) : (
                    <span className={styles.muted}>—</span>
                  ),
              },
            ]}
          />
        </>
      )}
    </Section>
  );
}

function RecentPushes({ pushes, current, select, appName }: { pushes: Push[]; current: string; select: (id: string) => void; appName: (id: string) => string }) {
  const columns: Column<Push>[] = [
    {
      key: "id",
      header: "Push",
      cell: (p) => (
        <button type="button" className={`${styles.linkButton} ${p.id === current ? styles.selected : ""}`} onClick={() => select(p.id)} aria-label={`Show push ${p.id}`}>
          {p.id}
        </button>
      ),
    },
    { key: "app", header: "App", cell: (p) => appName(p.appId) },
    { key: "urls", header: "URLs", numeric: true, cell: (p) => p.urlCount },
    { key: "failed", header: "Failed", numeric: true, cell: (p) => p.urlsFailed },
    { key: "actor", header: "By", cell: (p) => p.actor || "—" },
    { key: "created", header: "Requested", cell: (p) => formatTime(p.createdAt) },
    {
      key: "progress",
      header: "Nodes",
      cell: (p) => <Badge tone={p.timeToLastAck ? "ok" : "info"}>{`${p.nodesDone}/${p.nodesTotal}${p.timeToLastAck ? ` in ${durationText(p.timeToLastAck)}` : ""}`}</Badge>,
    },
  ];
  return <Table caption="Recent pushes" hideCaption columns={columns} rows={pushes} rowKey={(p) => p.id} empty="No pushes yet." />;
}
