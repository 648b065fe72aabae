import { useState, type ReactNode } from "react";
import { Link, useParams } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { CertService, client, ConfigService } from "../../api";
import { AppSettingsForm } from "./AppSettingsForm";
import { UpstreamEditor, newUpstream } from "./UpstreamEditor";
import { RuleEditor, newRule } from "./RuleEditor";
import { WriteError } from "./forms";
import { useCanEdit } from "./canEdit";
import edit from "./edit.module.css";
import type { Action, App, Rule, Server, Upstream } from "../../gen/strata/config/v1/resources_pb";
import { BalancePolicy } from "../../gen/strata/config/v1/resources_pb";
import { Table, type Column } from "../../components/Table";
import { ErrorPanel } from "../../components/ErrorPanel";
import { Badge, Loading, PageHeader, Section } from "../../components/Page";
import { formatTime, plural, releaseState } from "../../lib/format";
import styles from "./AppPage.module.css";

export function roleOf(app: App): string {
  switch (app.role.case) {
    case "stream":
      return "stream (TCP/UDP)";
    case "forwardProxy":
      return "forward proxy";
    default:
      return "HTTP";
  }
}

const policyNames: Record<BalancePolicy, string> = {
  [BalancePolicy.UNSPECIFIED]: "round robin",
  [BalancePolicy.ROUND_ROBIN]: "round robin",
  [BalancePolicy.WEIGHTED]: "weighted",
  [BalancePolicy.LEAST_CONNECTIONS]: "least connections",
  [BalancePolicy.CONSISTENT_HASH]: "consistent hash",
};

// describeAction is one line of what a rule's action does.
export function describeAction(a: Action): string {
  const v = a.action;
  switch (v.case) {
    case "proxy":
      return "proxy to " + v.value.upstreams.map((u) => (v.value.upstreams.length > 1 ? `${u.upstream} (${u.weight})` : u.upstream)).join(", ");
    case "redirect":
      return `redirect ${v.value.status || 302} to ${v.value.url}`;
    case "respond":
      return `respond ${v.value.status}`;
    case "requestHeaders":
    case "responseHeaders": {
      const ops = [...Object.keys(v.value.set).map((k) => `set ${k}`), ...v.value.add.map((h) => `add ${h.name}`), ...v.value.remove.map((k) => `remove ${k}`)];
      return `${v.case === "requestHeaders" ? "request" : "response"} headers: ${ops.join(", ")}`;
    }
    case "rewrite":
      return `rewrite ${v.value.pathRegex} → ${v.value.pathReplacement}`;
    case "cache":
      return v.value.bypass ? "cache: bypass" : `cache ${v.value.ttlS ? v.value.ttlS + " s" : "(origin TTL)"}`;
    default:
      return "unknown action";
  }
}

function Labels({ labels }: { labels: Record<string, string> }) {
  const entries = Object.entries(labels);
  if (!entries.length) return <span className={styles.muted}>none</span>;
  return (
    <ul className={styles.chips}>
      {entries.map(([k, v]) => (
        <li key={k}>
          <Badge>
            {k}={v}
          </Badge>
        </li>
      ))}
    </ul>
  );
}

function UpstreamCard({ u, tools }: { u: Upstream; tools?: ReactNode }) {
  const total = u.servers.filter((s) => !s.backup).reduce((n, s) => n + s.weight, 0);
  const cols: Column<Server>[] = [
    { key: "address", header: "Server", cell: (s) => <code>{s.address}</code> },
    { key: "weight", header: "Weight", numeric: true, cell: (s) => s.weight },
    { key: "share", header: "Share", numeric: true, cell: (s) => (s.backup ? "—" : total ? `${Math.round((100 * s.weight) / total)} %` : "0 %") },
    { key: "role", header: "Role", cell: (s) => (s.backup ? <Badge tone="info">backup</Badge> : s.weight === 0 ? <Badge tone="warn">no traffic</Badge> : <Badge tone="ok">primary</Badge>) },
  ];
  const hc = u.healthCheck;
  return (
    <article className={styles.card} aria-label={`Upstream ${u.name}`}>
      <div className={edit.row}>
        <h3 className={styles.cardTitle}>{u.name}</h3>
        {tools}
      </div>
      <dl className={styles.facts}>
        <dt>Balancing</dt>
        <dd>
          {policyNames[u.policy] ?? "round robin"}
          {u.hashKey && <> on {u.hashKey}</>}
        </dd>
        <dt>Health checks</dt>
        <dd>
          {hc?.enabled ? `GET ${hc.path || "/"} every ${hc.intervalMs || 5000} ms` : "active checks off"}
          {hc && hc.maxFails > 0 && `; passive: out after ${plural(hc.maxFails, "failure")}`}
        </dd>
        <dt>TLS to servers</dt>
        <dd>{u.tls?.enabled ? `on${u.tls.verify ? ", verified" : ", not verified"}${u.tls.sni ? `, SNI ${u.tls.sni}` : ""}` : "off"}</dd>
        <dt>Retries</dt>
        <dd>{u.retries}</dd>
      </dl>
      <Table caption={`Servers of ${u.name}`} hideCaption columns={cols} rows={u.servers} rowKey={(s) => s.address} empty="No servers." />
    </article>
  );
}

// ConfirmButton asks once more before a destructive call.
function ConfirmButton({ label, confirm, onConfirm, disabled }: { label: string; confirm: string; onConfirm: () => void; disabled?: boolean }) {
  const [asking, setAsking] = useState(false);
  if (!asking)
    return (
      <button type="button" className={edit.danger} disabled={disabled} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  return (
    <span className={edit.ruleTools} role="group" aria-label={confirm}>
      <span>{confirm}</span>
      <button type="button" className={edit.danger} onClick={() => (setAsking(false), onConfirm())}>
        Yes, {label.toLowerCase()}
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        Keep
      </button>
    </span>
  );
}

type Editing = { kind: "settings" } | { kind: "upstream"; u: Upstream } | { kind: "rule"; r: Rule } | null;

export function AppPage() {
  const { appId = "" } = useParams();
  const q = useQuery(ConfigService.method.getApp, { appId });
  const partitions = useQuery(ConfigService.method.listPartitions, {});
  const qc = useQueryClient();
  const canEdit = useCanEdit();
  const [editing, setEditing] = useState<Editing>(null);
  const [opError, setOpError] = useState<{ err: unknown; what: string }>();
  const [dragFrom, setDragFrom] = useState<number | null>(null);
  const [dragOver, setDragOver] = useState<number | null>(null);
  const partitionName = (id: string) => partitions.data?.partitions.find((p) => p.id === id)?.name ?? id;
  if (q.error) return <ErrorPanel error={q.error} what="show this application" />;
  if (q.isPending) return <Loading what="the application" />;
  const app = q.data.app;
  if (!app) return <ErrorPanel error={new Error("the API returned no app")} />;
  const version = q.data.version;
  const id = app.id;

  const reload = () => {
    setOpError(undefined);
    void qc.invalidateQueries();
  };
  const done = () => {
    setEditing(null);
    reload();
  };
  // run is a one-click write (move, delete, detach) with the version read.
  const run = async (what: string, call: () => Promise<unknown>) => {
    setOpError(undefined);
    try {
      await call();
      reload();
    } catch (err) {
      setOpError({ err, what });
    }
  };
  const c = client(ConfigService);
  const move = (rule: Rule, to: number) => run(`move rule ${rule.name}`, () => c.moveRule({ appId: id, expectedVersion: version, rule: rule.id, index: to }));
  const isHTTP = app.role.case === undefined;
  const ports = [...app.httpPorts.map((p) => `${p} (HTTP)`), ...app.httpsPorts.map((p) => `${p} (HTTPS)`)];
  const busy = editing !== null;

  return (
    <>
      <nav aria-label="Breadcrumb" className={styles.crumbs}>
        <Link to="/apps">Applications</Link> / <span aria-current="page">{app.name}</span>
      </nav>
      <PageHeader
        title={app.name}
        description={<code>{app.id}</code>}
        actions={
          <>
            {q.data.pendingChanges > 0 ? <Badge tone="warn">{plural(q.data.pendingChanges, "unreleased change")}</Badge> : <Badge tone="ok">released</Badge>}
            <Link to={`/releases?app=${id}`}>{q.data.pendingChanges > 0 ? "Review and release" : "Releases"}</Link>
          </>
        }
      />
      {!canEdit && <p className={edit.muted}>Your role is read-only: you can look, not change.</p>}
      {opError && <WriteError error={opError.err} what={opError.what} onReload={reload} />}
      <Section
        title="Overview"
        actions={
          <button type="button" disabled={!canEdit || busy} onClick={() => setEditing({ kind: "settings" })}>
            Edit settings
          </button>
        }
      >
        {editing?.kind === "settings" ? (
          <AppSettingsForm app={app} version={version} onDone={done} onCancel={() => setEditing(null)} onReload={reload} />
        ) : (
          <dl className={styles.facts}>
            <dt>Role</dt>
            <dd>{roleOf(app)}</dd>
            <dt>Release</dt>
            <dd>{releaseState(q.data.latestRelease, q.data.pendingChanges)}</dd>
            <dt>Partitions</dt>
            <dd>{app.partitionIds.length ? app.partitionIds.map(partitionName).join(", ") : "all"}</dd>
            <dt>Ports</dt>
            <dd>{ports.length ? ports.join(", ") : "the node's default HTTP and HTTPS ports"}</dd>
            <dt>HTTPS redirect</dt>
            <dd>{app.httpsRedirect ? "on" : "off"}</dd>
            <dt>HSTS</dt>
            <dd>{app.hsts ? `max-age ${app.hsts.maxAgeSeconds}${app.hsts.includeSubdomains ? ", subdomains" : ""}${app.hsts.preload ? ", preload" : ""}` : "off"}</dd>
            <dt>Labels</dt>
            <dd>
              <Labels labels={app.labels} />
            </dd>
            <dt>Version</dt>
            <dd>{version.toString()}</dd>
          </dl>
        )}
      </Section>
      <Section title="Domains">
        {app.domains.length ? (
          <ul className={styles.domains}>
            {app.domains.map((d) => (
              <li key={d}>
                <code>{d}</code>
              </li>
            ))}
          </ul>
        ) : (
          <p className={styles.muted}>No domains.</p>
        )}
      </Section>
      <Section
        title="Upstreams"
        actions={
          <button type="button" disabled={!canEdit || busy} onClick={() => setEditing({ kind: "upstream", u: newUpstream() })}>
            Add upstream
          </button>
        }
      >
        {editing?.kind === "upstream" && !editing.u.id && <UpstreamEditor appId={id} version={version} initial={editing.u} onDone={done} onCancel={() => setEditing(null)} onReload={reload} />}
        {app.upstreams.length
          ? app.upstreams.map((u) =>
              editing?.kind === "upstream" && editing.u.id === u.id ? (
                <UpstreamEditor key={u.id} appId={id} version={version} initial={u} onDone={done} onCancel={() => setEditing(null)} onReload={reload} />
              ) : (
                <UpstreamCard
                  key={u.id}
                  u={u}
                  tools={
                    <span className={edit.ruleTools}>
                      <button type="button" disabled={!canEdit || busy} aria-label={`Edit upstream ${u.name}`} onClick={() => setEditing({ kind: "upstream", u })}>
                        Edit
                      </button>
                      <ConfirmButton label="Delete" confirm={`Delete upstream ${u.name}?`} disabled={!canEdit || busy} onConfirm={() => run(`delete upstream ${u.name}`, () => c.deleteUpstream({ appId: id, expectedVersion: version, upstream: u.id }))} />
                    </span>
                  }
                />
              ),
            )
          : <p className={edit.muted}>No upstreams.</p>}
      </Section>
      {isHTTP && (
        <Section
          title="Rules"
          actions={
            <button type="button" disabled={!canEdit || busy} onClick={() => setEditing({ kind: "rule", r: newRule(app.upstreams) })}>
              Add rule
            </button>
          }
        >
          <p className={edit.muted}>Evaluated in this order; drag a rule or use its arrows to move it.</p>
          {editing?.kind === "rule" && !editing.r.id && <RuleEditor appId={id} version={version} initial={editing.r} upstreams={app.upstreams} onDone={done} onCancel={() => setEditing(null)} onReload={reload} />}
          {app.rules.length === 0 && <p className={edit.muted}>No rules: every request gets 404.</p>}
          <ol className={edit.rules} aria-label="Page rules, in evaluation order">
            {app.rules.map((r, i) =>
              editing?.kind === "rule" && editing.r.id === r.id ? (
                <li key={r.id}>
                  <RuleEditor appId={id} version={version} initial={r} upstreams={app.upstreams} onDone={done} onCancel={() => setEditing(null)} onReload={reload} />
                </li>
              ) : (
                <li
                  key={r.id}
                  className={`${edit.rule} ${dragOver === i ? edit.dragOver : ""}`}
                  draggable={canEdit && !busy}
                  aria-label={`Rule ${i + 1}: ${r.name}`}
                  onDragStart={(e) => {
                    setDragFrom(i);
                    e.dataTransfer.effectAllowed = "move";
                    e.dataTransfer.setData("text/plain", r.id);
                  }}
                  onDragOver={(e) => {
                    if (dragFrom === null) return;
                    e.preventDefault();
                    setDragOver(i);
                  }}
                  onDragLeave={() => setDragOver(null)}
                  onDrop={(e) => {
                    e.preventDefault();
                    const from = dragFrom;
                    setDragFrom(null);
                    setDragOver(null);
                    if (from !== null && from !== i) void move(app.rules[from], i);
                  }}
                  onDragEnd={() => (setDragFrom(null), setDragOver(null))}
                >
                  <span className={edit.handle} aria-hidden="true">
                    {i + 1}
                  </span>
                  <div className={edit.ruleBody}>
                    <p>
                      <strong>{r.name}</strong> {r.last && <Badge tone="info">last</Badge>}
                    </p>
                    <p>{r.when ? <code>{r.when}</code> : <span className={styles.muted}>every request</span>}</p>
                    <ul className={styles.plain}>
                      {r.actions.map((a, j) => (
                        <li key={j}>{describeAction(a)}</li>
                      ))}
                    </ul>
                  </div>
                  <span className={edit.ruleTools}>
                    <button type="button" aria-label={`Move rule ${r.name} up`} disabled={!canEdit || busy || i === 0} onClick={() => move(r, i - 1)}>
                      ↑
                    </button>
                    <button type="button" aria-label={`Move rule ${r.name} down`} disabled={!canEdit || busy || i === app.rules.length - 1} onClick={() => move(r, i + 1)}>
                      ↓
                    </button>
                    <button type="button" aria-label={`Edit rule ${r.name}`} disabled={!canEdit || busy} onClick={() => setEditing({ kind: "rule", r })}>
                      Edit
                    </button>
                    <ConfirmButton label="Delete" confirm={`Delete rule ${r.name}?`} disabled={!canEdit || busy} onConfirm={() => run(`delete rule ${r.name}`, () => c.deleteRule({ appId: id, expectedVersion: version, rule: r.id }))} />
                  </span>
                </li>
              ),
            )}
          </ol>
        </Section>
      )}
      <Certificates appId={id} canEdit={canEdit} />
    </>
  );
}

// Certificates attached to the app: attach one of the uploaded or managed
// certificates, detach (each with the certificate's expected_version).
function Certificates({ appId, canEdit }: { appId: string; canEdit: boolean }) {
  const attached = useQuery(CertService.method.listCertificates, { appId });
  const all = useQuery(CertService.method.listCertificates, {});
  const qc = useQueryClient();
  const [pick, setPick] = useState("");
  const [error, setError] = useState<{ err: unknown; what: string }>();
  const cs = client(CertService);
  const run = async (what: string, name: string, call: (v: bigint) => Promise<unknown>) => {
    setError(undefined);
    try {
      const cur = await cs.getCertificate({ certificate: name });
      await call(cur.version);
      setPick("");
      void qc.invalidateQueries();
    } catch (err) {
      setError({ err, what });
    }
  };
  const list = attached.data?.certificates ?? [];
  const candidates = (all.data?.certificates ?? []).filter((x) => !list.some((y) => y.id === x.id));
  return (
    <Section title="Certificates">
      {attached.error ? (
        <ErrorPanel error={attached.error} what="list the app's certificates" />
      ) : (
        <>
          {list.length === 0 ? (
            <p className={edit.muted}>No certificate attached: HTTPS uses a certificate whose names cover the domain, if any.</p>
          ) : (
            <ul className={styles.plain}>
              {list.map((x) => (
                <li key={x.id} className={edit.row}>
                  <strong>{x.name}</strong> <span>{x.domains.join(", ")}</span> <span className={edit.muted}>expires {formatTime(x.notAfter)}</span>
                  <ConfirmButton label="Detach" confirm={`Detach ${x.name}?`} disabled={!canEdit} onConfirm={() => run(`detach ${x.name}`, x.id, (v) => cs.detachCertificate({ certificate: x.id, appId, expectedVersion: v }))} />
                </li>
              ))}
            </ul>
          )}
          {candidates.length > 0 && (
            <div className={edit.row}>
              <label>
                Certificate to attach{" "}
                <select value={pick} onChange={(e) => setPick(e.target.value)} disabled={!canEdit}>
                  <option value="">(choose)</option>
                  {candidates.map((x) => (
                    <option key={x.id} value={x.id}>
                      {x.name} ({x.domains.join(", ")})
                    </option>
                  ))}
                </select>
              </label>
              <button type="button" disabled={!canEdit || !pick} onClick={() => run("attach the certificate", pick, (v) => cs.attachCertificate({ certificate: pick, appId, expectedVersion: v }))}>
                Attach
              </button>
            </div>
          )}
          {error && <WriteError error={error.err} what={error.what} />}
        </>
      )}
    </Section>
  );
}
