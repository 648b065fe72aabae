import { useMemo } from "react";
import { Link, useSearchParams } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import { ConfigService } from "../../api";
import type { AppSummary } from "../../gen/strata/config/v1/config_pb";
import { Table, type Column } from "../../components/Table";
import { ErrorPanel } from "../../components/ErrorPanel";
import { Badge, Loading, PageHeader } from "../../components/Page";
import { plural } from "../../lib/format";
import styles from "./AppsPage.module.css";

// matchesDomain: the app has a domain containing q (case-insensitive), or
// its name contains it.
export function matchesDomain(app: Pick<AppSummary, "name" | "domains">, q: string): boolean {
  const s = q.trim().toLowerCase();
  if (!s) return true;
  return app.name.toLowerCase().includes(s) || app.domains.some((d) => d.includes(s));
}

export function AppsPage() {
  const [params, setParams] = useSearchParams();
  const q = params.get("q") ?? "";
  const unreleased = params.get("unreleased") === "1";
  const apps = useQuery(ConfigService.method.listApps, {});
  const partitions = useQuery(ConfigService.method.listPartitions, {});

  const partitionName = useMemo(() => {
    const m = new Map<string, string>();
    for (const p of partitions.data?.partitions ?? []) m.set(p.id, p.name);
    return (id: string) => m.get(id) ?? id;
  }, [partitions.data]);

  const rows = useMemo(
    () => (apps.data?.apps ?? []).filter((a) => !a.deleted && matchesDomain(a, q) && (!unreleased || a.pendingChanges > 0)),
    [apps.data, q, unreleased],
  );

  const set = (k: string, v: string) => {
    const next = new URLSearchParams(params);
    if (v) next.set(k, v);
    else next.delete(k);
    setParams(next, { replace: true });
  };

  const columns: Column<AppSummary>[] = [
    { key: "name", header: "Name", sortValue: (a) => a.name, cell: (a) => <Link to={`/apps/${a.id}`}>{a.name}</Link> },
    {
      key: "domains",
      header: "Domains",
      sortValue: (a) => a.domains[0] ?? "",
      cell: (a) => (a.domains.length ? <span className={styles.list}>{a.domains.join(", ")}</span> : <span className={styles.muted}>none</span>),
    },
    {
      key: "partitions",
      header: "Partitions",
      cell: (a) => (a.partitionIds.length ? a.partitionIds.map(partitionName).join(", ") : <span className={styles.muted}>all</span>),
    },
    {
      key: "release",
      header: "Release",
      sortValue: (a) => a.latestRelease,
      cell: (a) => (a.latestRelease === 0n ? <span className={styles.muted}>never released</span> : <>#{a.latestRelease.toString()}{a.stagingRelease > a.stableRelease && <> (staging #{a.stagingRelease.toString()})</>}</>),
    },
    {
      key: "pending",
      header: "Unreleased changes",
      sortValue: (a) => a.pendingChanges,
      cell: (a) => (a.pendingChanges > 0 ? <Badge tone="warn">{plural(a.pendingChanges, "change")}</Badge> : <Badge tone="ok">released</Badge>),
    },
    { key: "version", header: "Version", numeric: true, sortValue: (a) => a.version, cell: (a) => a.version.toString() },
  ];

  return (
    <>
      <PageHeader title="Applications" description="HTTP, stream and forward-proxy apps: their domains, partitions and release state." />
      <form className={styles.filters} role="search" onSubmit={(e) => e.preventDefault()}>
        <label className={styles.field}>
          <span>Search by domain or name</span>
          <input type="search" value={q} placeholder="shop.example.com" onChange={(e) => set("q", e.target.value)} />
        </label>
        <label className={styles.check}>
          <input type="checkbox" checked={unreleased} onChange={(e) => set("unreleased", e.target.checked ? "1" : "")} />
          <span>Only apps with unreleased changes</span>
        </label>
      </form>
      {apps.error ? (
        <ErrorPanel error={apps.error} what="list applications" />
      ) : apps.isPending ? (
        <Loading what="applications" />
      ) : (
        <Table
          caption={`${plural(rows.length, "application")}${q || unreleased ? " matching" : ""}`}
          columns={columns}
          rows={rows}
          rowKey={(a) => a.id}
          initialSort={{ key: "name", dir: "asc" }}
          empty={q || unreleased ? "No application matches." : <>No applications yet. Create one with <code>strata app create --name shop --domain shop.example.com</code>.</>}
        />
      )}
    </>
  );
}
