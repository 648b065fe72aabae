import { useEffect, useMemo, useState } from "react";
import { useSearchParams } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { client, ConfigService, MetricsService, errorMessage, fieldViolations } from "../../api";
import type { MetricDefinition } from "../../gen/strata/metrics/v1/definition_pb";
import type { HealthChange, TopRow } from "../../gen/strata/metrics/v1/metrics_pb";
import { TimeSeries } from "../../components/Chart";
import { Table, type Column } from "../../components/Table";
import { ErrorPanel } from "../../components/ErrorPanel";
import { Badge, Loading, PageHeader, Section } from "../../components/Page";
import { alignSeries, isRange, liveWindow, ranges, rate, type RangeKey, type TailSecond } from "./series";
import styles from "./MetricsPage.module.css";

const metrics = client(MetricsService);

// useNow is the current Unix second, refreshed every `every` seconds.
function useNow(every: number): number {
  const [now, setNow] = useState(() => Math.floor(Date.now() / 1000));
  useEffect(() => {
    const t = setInterval(() => setNow(Math.floor(Date.now() / 1000)), every * 1000);
    return () => clearInterval(t);
  }, [every]);
  return now;
}

export function MetricsPage() {
  const [params, setParams] = useSearchParams();
  const apps = useQuery(ConfigService.method.listApps, {});
  const appList = useMemo(() => (apps.data?.apps ?? []).filter((a) => !a.deleted), [apps.data]);
  const appId = params.get("app") ?? appList[0]?.id ?? "";
  const rangeParam = params.get("range");
  const range: RangeKey = isRange(rangeParam) ? rangeParam : "1h";
  const set = (k: string, v: string) => {
    const next = new URLSearchParams(params);
    if (v) next.set(k, v);
    else next.delete(k);
    setParams(next, { replace: true });
  };

  return (
    <>
      <PageHeader title="Metrics" description="Traffic of an app in real time and over a range, its upstream health, the nodes' machines and custom Metric SQL metrics." />
      <form className={styles.filters} onSubmit={(e) => e.preventDefault()} aria-label="Metrics filters">
        <label className={styles.field}>
          <span>Application</span>
          <select value={appId} onChange={(e) => set("app", e.target.value)}>
            {appList.length === 0 && <option value="">no applications</option>}
            {appList.map((a) => (
              <option key={a.id} value={a.id}>
                {a.name}
              </option>
            ))}
          </select>
        </label>
        <fieldset className={styles.range}>
          <legend>Time range</legend>
          {(Object.keys(ranges) as RangeKey[]).map((r) => (
            <label key={r} className={r === range ? styles.rangeOn : undefined}>
              <input type="radio" name="range" value={r} checked={r === range} onChange={() => set("range", r)} />
              {r}
            </label>
          ))}
        </fieldset>
      </form>
      {apps.error ? <ErrorPanel error={apps.error} what="list applications" /> : null}
      {appId && <Live appId={appId} />}
      {appId && <History appId={appId} range={range} />}
      {appId && <Top appId={appId} range={range} />}
      {appId && <Health appId={appId} range={range} />}
      <Nodes range={range} />
      <CustomMetrics range={range} />
    </>
  );
}

// Live follows the Tail stream of the app: requests and status classes per
// second over the last minute.
function Live({ appId }: { appId: string }) {
  const [seconds, setSeconds] = useState<TailSecond[]>([]);
  const [nodes, setNodes] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const now = useNow(1);
  useEffect(() => {
    setSeconds([]);
    setError(null);
    const ac = new AbortController();
    (async () => {
      for (let attempt = 0; attempt < 1000 && !ac.signal.aborted; attempt++) {
        try {
          for await (const m of metrics.tail({ appId }, { signal: ac.signal })) {
            setError(null);
            if (!m.second) continue;
            const s = m.second;
            if (m.nodes) setNodes(m.nodes);
            setSeconds((prev) => [...prev.filter((p) => Number(p.unixSecond) > Date.now() / 1000 - 120), s]);
          }
        } catch (e) {
          if (ac.signal.aborted) return;
          setError(e);
        }
        await new Promise((r) => setTimeout(r, 2000));
      }
    })();
    return () => ac.abort();
  }, [appId]);
  const w = useMemo(() => liveWindow(seconds, now - 1, 60), [seconds, now]);
  const total = w.requests.reduce((a, b) => a + b, 0);
  const series = useMemo(
    () => [{ label: "requests", values: w.requests }, ...Object.entries(w.classes).map(([c, v]) => ({ label: c, values: v }))],
    [w],
  );
  return (
    <Section title="Live" actions={<span className={styles.muted}>{total > 0 && nodes ? `${nodes} node${nodes === 1 ? "" : "s"} reporting` : "no traffic in the last minute"}</span>}>
      {error ? <ErrorPanel error={error} what="follow the app's traffic" /> : null}
      <p className={styles.stat}>
        Requests in the last minute: <strong data-testid="live-requests">{total}</strong>
      </p>
      <TimeSeries title="Requests per second by status class, last minute" times={w.times} series={series} unit="req/s" height={180} />
    </Section>
  );
}

function useRangeTimes(range: RangeKey) {
  const now = useNow(range === "5m" ? 10 : 30);
  return useMemo(() => ({ start: timestampFromDate(new Date((now - ranges[range]) * 1000)), end: timestampFromDate(new Date(now * 1000)) }), [now, range]);
}

const trafficSeries = ["requests", "status_2xx", "status_3xx", "status_4xx", "status_5xx"];
const latencySeries = ["latency_p50", "latency_p90", "latency_p99"];

function SeriesChart({ appId, range, names, title, unit }: { appId: string; range: RangeKey; names: string[]; title: string; unit: string }) {
  const { start, end } = useRangeTimes(range);
  const [data, setData] = useState<{ times: number[]; values: (number | null)[][] } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const key = `${start.seconds}`;
  useEffect(() => {
    let live = true;
    Promise.all(names.map((series) => metrics.querySeries({ appId, series, start, end })))
      .then((rs) => {
        if (!live) return;
        setError(null);
        setData(alignSeries(rs.map((r) => r.points)));
      })
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [appId, key, names.join(",")]);
  if (error) return <ErrorPanel error={error} what={`read ${title.toLowerCase()}`} />;
  if (!data) return <Loading what={title.toLowerCase()} />;
  return <TimeSeries title={title} times={data.times} series={names.map((n, i) => ({ label: n.replace("status_", "").replace("latency_", ""), values: data.values[i] }))} unit={unit} />;
}

function History({ appId, range }: { appId: string; range: RangeKey }) {
  return (
    <>
      <Section title="Requests and status codes">
        <SeriesChart appId={appId} range={range} names={trafficSeries} title="Requests by status class" unit="req/s" />
      </Section>
      <Section title="Latency">
        <SeriesChart appId={appId} range={range} names={latencySeries} title="Latency percentiles p50, p90, p99" unit="ms" />
      </Section>
    </>
  );
}

// waf_rule: the requests each WAF rule matched, blocked and challenged
// among them (docs/waf.md, "Rule counts in the metrics service").
const topBy = ["path", "status", "upstream", "cache", "waf_rule"] as const;

function Top({ appId, range }: { appId: string; range: RangeKey }) {
  const { start, end } = useRangeTimes(range);
  return (
    <Section title="Top">
      <div className={styles.grid}>
        {topBy.map((by) => (
          <TopTable key={by} appId={appId} by={by} start={start} end={end} />
        ))}
      </div>
    </Section>
  );
}

function TopTable({ appId, by, start, end }: { appId: string; by: string; start: ReturnType<typeof timestampFromDate>; end: ReturnType<typeof timestampFromDate> }) {
  const q = useQuery(MetricsService.method.queryTop, { appId, by, start, end, limit: 10 });
  if (q.error) return <ErrorPanel error={q.error} what={`read the top ${by}`} />;
  if (q.isPending) return <Loading what={`top ${by}`} />;
  const total = Number(q.data.total) || 1;
  const cols: Column<TopRow>[] = [
    { key: "name", header: by, cell: (r) => <span className={styles.mono}>{r.name || "(none)"}</span> },
    { key: "req", header: "Requests", numeric: true, sortValue: (r) => r.requests, cell: (r) => r.requests.toString() },
    { key: "share", header: "Share", numeric: true, cell: (r) => `${((Number(r.requests) * 100) / total).toFixed(1)}%` },
  ];
  if (by === "waf_rule") {
    cols.push({ key: "blocked", header: "Blocked", numeric: true, sortValue: (r) => r.blocked, cell: (r) => r.blocked.toString() });
    cols.push({ key: "challenged", header: "Challenged", numeric: true, sortValue: (r) => r.challenged, cell: (r) => r.challenged.toString() });
  } else if (by !== "path" && by !== "cache") {
    cols.push({ key: "err", header: "5xx", numeric: true, cell: (r) => r.errors.toString() });
  }
  const empty = by === "waf_rule" ? "No WAF rule matched in this range." : "No traffic in this range.";
  return <Table caption={`Top ${by}`} columns={cols} rows={q.data.rows} rowKey={(r) => r.name} empty={empty} />;
}

function Health({ appId, range }: { appId: string; range: RangeKey }) {
  const { start } = useRangeTimes(range);
  const q = useQuery(MetricsService.method.listHealth, { appId, start, pageSize: 50 });
  const cols: Column<HealthChange>[] = [
    { key: "time", header: "Time", cell: (h) => (h.time ? new Date(Number(h.time.seconds) * 1000).toLocaleString() : "") },
    { key: "node", header: "Node", cell: (h) => <span className={styles.mono}>{h.nodeId}</span> },
    { key: "up", header: "Upstream", cell: (h) => h.upstream },
    { key: "server", header: "Server", cell: (h) => <span className={styles.mono}>{h.server}</span> },
    { key: "state", header: "State", cell: (h) => (h.healthy ? <Badge tone="ok">healthy</Badge> : <Badge tone="danger">unhealthy</Badge>) },
    { key: "reason", header: "Reason", cell: (h) => h.reason },
  ];
  return (
    <Section title="Upstream health">
      {q.error ? (
        <ErrorPanel error={q.error} what="list upstream health" />
      ) : q.isPending ? (
        <Loading what="health changes" />
      ) : (
        <Table caption="Health changes, newest first" columns={cols} rows={q.data.changes} rowKey={(h) => `${h.time?.seconds}-${h.nodeId}-${h.server}-${h.healthy}`} empty="No health change in this range: every checked server kept its state." />
      )}
    </Section>
  );
}

function Nodes({ range }: { range: RangeKey }) {
  const nodes = useQuery(ConfigService.method.listNodes, {});
  const list = nodes.data?.nodes ?? [];
  const [picked, setPicked] = useState("");
  const nodeId = picked || list[0]?.node?.id || "";
  return (
    <Section
      title="Nodes"
      actions={
        list.length > 0 && (
          <label className={styles.inline}>
            <span>Node</span>
            <select value={nodeId} onChange={(e) => setPicked(e.target.value)}>
              {list.map((n) => (
                <option key={n.node?.id} value={n.node?.id}>
                  {n.node?.name || n.node?.id} {n.online ? "" : "(offline)"}
                </option>
              ))}
            </select>
          </label>
        )
      }
    >
      {nodes.error ? <ErrorPanel error={nodes.error} what="list nodes" /> : nodes.isPending ? <Loading what="nodes" /> : nodeId ? <NodeStats nodeId={nodeId} range={range} /> : <p className={styles.muted}>No nodes.</p>}
    </Section>
  );
}

function NodeStats({ nodeId, range }: { nodeId: string; range: RangeKey }) {
  const { start, end } = useRangeTimes(range);
  const q = useQuery(MetricsService.method.getNodeStats, { nodeId, start, end });
  const d = useMemo(() => {
    const s = q.data?.samples ?? [];
    const times = s.map((x) => Number(x.unixSecond));
    const sum = (f: (i: { bytesRecv: bigint; bytesSent: bigint }) => bigint) => s.map((x) => x.interfaces.reduce((a, i) => a + Number(f(i)), 0));
    return {
      times,
      cpu: s.map((x) => x.cpuPercent),
      mem: s.map((x) => (x.memoryTotalBytes ? (Number(x.memoryUsedBytes) * 100) / Number(x.memoryTotalBytes) : null)),
      rx: rate(times, sum((i) => i.bytesRecv)).map((v) => (v === null ? null : v / 1024)),
      tx: rate(times, sum((i) => i.bytesSent)).map((v) => (v === null ? null : v / 1024)),
    };
  }, [q.data]);
  if (q.error) return <ErrorPanel error={q.error} what="read the node's stats" />;
  if (q.isPending) return <Loading what="node stats" />;
  return (
    <div className={styles.grid2}>
      <TimeSeries title="CPU and memory use, percent" times={d.times} series={[{ label: "CPU %", values: d.cpu }, { label: "memory %", values: d.mem }]} unit="%" height={180} />
      <TimeSeries title="Network, KiB per second" times={d.times} series={[{ label: "received", values: d.rx }, { label: "sent", values: d.tx }]} unit="KiB/s" height={180} />
    </div>
  );
}

function CustomMetrics({ range }: { range: RangeKey }) {
  const q = useQuery(MetricsService.method.listMetrics, { pageSize: 200 });
  const [editing, setEditing] = useState<MetricDefinition | "new" | null>(null);
  const [shown, setShown] = useState("");
  const qc = useQueryClient();
  const [error, setError] = useState<unknown>(null);
  const refresh = () => qc.invalidateQueries();
  const remove = async (m: MetricDefinition) => {
    if (!window.confirm(`Delete the metric ${m.name}?`)) return;
    try {
      await metrics.deleteMetric({ metric: m.id, expectedVersion: m.version });
      setError(null);
      refresh();
    } catch (e) {
      setError(e);
    }
  };
  const cols: Column<MetricDefinition>[] = [
    { key: "name", header: "Name", sortValue: (m) => m.name, cell: (m) => <span className={styles.mono}>{m.name}</span> },
    { key: "desc", header: "Description", cell: (m) => m.description },
    { key: "interval", header: "Window", numeric: true, cell: (m) => `${m.intervalSeconds} s` },
    {
      key: "actions",
      header: "Actions",
      cell: (m) => (
        <span className={styles.actions}>
          <button type="button" onClick={() => setShown(shown === m.id ? "" : m.id)} aria-label={`Show ${m.name}`}>
            {shown === m.id ? "Hide" : "Show"}
          </button>
          <button type="button" onClick={() => setEditing(m)} aria-label={`Edit ${m.name}`}>
            Edit
          </button>
          <button type="button" onClick={() => remove(m)} aria-label={`Delete ${m.name}`}>
            Delete
          </button>
        </span>
      ),
    },
  ];
  const list = q.data?.metrics ?? [];
  const shownMetric = list.find((m) => m.id === shown);
  return (
    <Section title="Custom metrics" actions={<button type="button" onClick={() => setEditing("new")}>New metric</button>}>
      {error ? <ErrorPanel error={error} what="delete the metric" /> : null}
      {editing && <MetricForm metric={editing === "new" ? null : editing} onDone={() => { setEditing(null); refresh(); }} />}
      {q.error ? (
        <ErrorPanel error={q.error} what="list metrics" />
      ) : q.isPending ? (
        <Loading what="metrics" />
      ) : (
        <Table caption="Metric SQL definitions" columns={cols} rows={list} rowKey={(m) => m.id} empty={<>No custom metric. Create one with New metric, e.g. <code>SELECT status, count(*) FROM requests GROUP BY status</code>.</>} />
      )}
      {shownMetric && <MetricResult metric={shownMetric} range={range} />}
    </Section>
  );
}

function MetricResult({ metric, range }: { metric: MetricDefinition; range: RangeKey }) {
  const { start, end } = useRangeTimes(range);
  const q = useQuery(MetricsService.method.queryMetric, { metric: metric.id, start, end });
  if (q.error) return <ErrorPanel error={q.error} what={`query ${metric.name}`} />;
  if (q.isPending) return <Loading what={metric.name} />;
  const cols: Column<{ values: string[]; other: boolean; i: number }>[] = q.data.columns.map((c, ci) => ({
    key: `${ci}`,
    header: c,
    numeric: q.data.rows.length > 0 && q.data.rows.every((r) => r.values[ci] !== "" && !isNaN(Number(r.values[ci]))),
    sortValue: (r) => (isNaN(Number(r.values[ci])) ? r.values[ci] : Number(r.values[ci])),
    cell: (r) => (r.other && ci === 0 ? <em>other</em> : r.values[ci]),
  }));
  return (
    <Table
      caption={`${metric.name}: ${q.data.windows} window${q.data.windows === 1n ? "" : "s"} in range${q.data.overflow ? `, ${q.data.overflow} rows in "other"` : ""}`}
      columns={cols}
      rows={q.data.rows.map((r, i) => ({ values: r.values, other: r.other, i }))}
      rowKey={(r) => `${r.i}`}
      empty="No result in this range yet."
    />
  );
}

function MetricForm({ metric, onDone }: { metric: MetricDefinition | null; onDone: () => void }) {
  const [name, setName] = useState(metric?.name ?? "");
  const [description, setDescription] = useState(metric?.description ?? "");
  const [sql, setSql] = useState(metric?.sql ?? "");
  const [interval, setInterval_] = useState(String(metric?.intervalSeconds ?? 60));
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    try {
      const intervalSeconds = Number(interval) || 0;
      if (metric) await metrics.updateMetric({ metric: metric.id, description, sql, intervalSeconds, expectedVersion: metric.version });
      else await metrics.createMetric({ name, description, sql, intervalSeconds });
      onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const violations = fieldViolations(error);
  return (
    <form className={styles.form} onSubmit={submit} aria-label={metric ? `Edit metric ${metric.name}` : "New metric"}>
      <label className={styles.field}>
        <span>Name</span>
        <input value={name} disabled={!!metric} onChange={(e) => setName(e.target.value)} required />
      </label>
      <label className={styles.field}>
        <span>Description</span>
        <input value={description} onChange={(e) => setDescription(e.target.value)} />
      </label>
      <label className={styles.field}>
        <span>Window (seconds)</span>
        <input type="number" min={1} value={interval} onChange={(e) => setInterval_(e.target.value)} />
      </label>
      <label className={`${styles.field} ${styles.wide}`}>
        <span>Metric SQL</span>
        <textarea rows={4} value={sql} onChange={(e) => setSql(e.target.value)} className={styles.mono} required />
      </label>
      {error ? (
        <div role="alert" className={styles.error}>
          {violations.length ? (
            <ul>
              {violations.map((v) => (
                <li key={v.field}>
                  <code>{v.field}</code>: {v.description}
                </li>
              ))}
            </ul>
          ) : (
            errorMessage(error)
          )}
        </div>
      ) : null}
      <div className={styles.actions}>
        <button type="submit" disabled={busy}>
          {metric ? "Save" : "Create"}
        </button>
        <button type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}
