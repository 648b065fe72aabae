import { Link, useParams } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import { ConfigService } from "../../api";
import type { Action, App, Rule, Server, Upstream } from "../../gen/strata/config/v1/resources_pb";
import { BalancePolicy } from "../../gen/strata/config/v1/resources_pb";
import { Table, type Column } from "../../components/Table";
import { ErrorPanel } from "../../components/ErrorPanel";
import { Badge, Loading, PageHeader, Section } from "../../components/Page";
import { plural, releaseState } from "../../lib/format";
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

function UpstreamCard({ u }: { u: Upstream }) {
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
      <h3 className={styles.cardTitle}>{u.name}</h3>
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

export function AppPage() {
  const { appId = "" } = useParams();
  const q = useQuery(ConfigService.method.getApp, { appId });
  const partitions = useQuery(ConfigService.method.listPartitions, {});
  const partitionName = (id: string) => partitions.data?.partitions.find((p) => p.id === id)?.name ?? id;
  if (q.error) return <ErrorPanel error={q.error} what="show this application" />;
  if (q.isPending) return <Loading what="the application" />;
  const app = q.data.app;
  if (!app) return <ErrorPanel error={new Error("the API returned no app")} />;

  const ruleCols: Column<Rule>[] = [
    { key: "n", header: "#", numeric: true, cell: (r) => app.rules.indexOf(r) + 1 },
    { key: "name", header: "Name", cell: (r) => r.name },
    { key: "when", header: "Condition", cell: (r) => (r.when ? <code>{r.when}</code> : <span className={styles.muted}>every request</span>) },
    { key: "actions", header: "Actions", cell: (r) => <ul className={styles.plain}>{r.actions.map((a, i) => <li key={i}>{describeAction(a)}</li>)}</ul> },
    { key: "last", header: "Stops", cell: (r) => (r.last ? <Badge tone="info">last</Badge> : "") },
  ];
  const ports = [...app.httpPorts.map((p) => `${p} (HTTP)`), ...app.httpsPorts.map((p) => `${p} (HTTPS)`)];

  return (
    <>
      <nav aria-label="Breadcrumb" className={styles.crumbs}>
        <Link to="/apps">Applications</Link> / <span aria-current="page">{app.name}</span>
      </nav>
      <PageHeader
        title={app.name}
        description={<code>{app.id}</code>}
        actions={q.data.pendingChanges > 0 ? <Badge tone="warn">{plural(q.data.pendingChanges, "unreleased change")}</Badge> : <Badge tone="ok">released</Badge>}
      />
      <Section title="Overview">
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
        </dl>
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
      <Section title="Upstreams">
        {app.upstreams.length ? app.upstreams.map((u) => <UpstreamCard key={u.id} u={u} />) : <p className={styles.muted}>No upstreams.</p>}
      </Section>
      <Section title="Rules">
        <Table caption="Page rules, in evaluation order" hideCaption columns={ruleCols} rows={app.rules} rowKey={(r) => r.id} empty="No rules: every request gets 404." />
      </Section>
    </>
  );
}
