import { useDeferredValue, useMemo, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { keepPreviousData } from "@tanstack/react-query";
import { useQuery } from "@connectrpc/connect-query";
import { ConfigService, errorKind, errorMessage } from "../../api";
import type { AppSummary } from "../../gen/strata/config/v1/config_pb";
import { Table, type Column } from "../../components/Table";
import { ErrorPanel } from "../../components/ErrorPanel";
import { Badge, Loading, PageHeader } from "../../components/Page";
import { formatTime, plural } from "../../lib/format";
import { appFilter } from "./filter";
import { AppSettingsForm } from "../app/AppSettingsForm";
import { useCanEdit } from "../app/canEdit";
import styles from "./AppsPage.module.css";

const roleNames: Record<string, string> = { http: "HTTP", stream: "stream", forward: "forward proxy" };

// Page size of the list: the API pages every List RPC (docs/api.md).
export const pageSize = 50;

// matchesDomain: the app has a domain containing q (case-insensitive), or
// its name contains it (what the server's filter does, for cached lists).
export function matchesDomain(app: Pick<AppSummary, "name" | "domains">, q: string): boolean {
  const s = q.trim().toLowerCase();
  if (!s) return true;
  return app.name.toLowerCase().includes(s) || app.domains.some((d) => d.includes(s));
}

export function AppsPage() {
  const [params, setParams] = useSearchParams();
  const q = params.get("q") ?? "";
  const unreleased = params.get("unreleased") === "1";
  const raw = params.get("filter") ?? "";
  const [rawDraft, setRawDraft] = useState(raw);
  // Tokens of the pages before the current one (the first page's is "").
  const [tokens, setTokens] = useState<string[]>([""]);
  const filter = useDeferredValue(appFilter(q, unreleased, raw));
  const token = tokens[tokens.length - 1];

  const apps = useQuery(ConfigService.method.listApps, { filter, pageSize, pageToken: token }, { placeholderData: keepPreviousData });
  const partitions = useQuery(ConfigService.method.listPartitions, { pageSize: 1000 });
  const [creating, setCreating] = useState(false);
  const navigate = useNavigate();
  const canEdit = useCanEdit();

  const partitionName = useMemo(() => {
    const m = new Map<string, string>();
    for (const p of partitions.data?.partitions ?? []) m.set(p.id, p.name);
    return (id: string) => m.get(id) ?? id;
  }, [partitions.data]);

  const set = (k: string, v: string) => {
    const next = new URLSearchParams(params);
    if (v) next.set(k, v);
    else next.delete(k);
    setParams(next, { replace: true });
    setTokens([""]);
  };

  const columns: Column<AppSummary>[] = [
    { key: "name", header: "Name", cell: (a) => <Link to={`/apps/${a.id}`}>{a.name}</Link> },
    {
      key: "domains",
      header: "Domains",
      cell: (a) => (a.domains.length ? <span className={styles.list}>{a.domains.join(", ")}</span> : <span className={styles.muted}>none</span>),
    },
    {
      key: "partitions",
      header: "Partitions",
      cell: (a) => (a.partitionIds.length ? a.partitionIds.map(partitionName).join(", ") : <span className={styles.muted}>all</span>),
    },
    {
      key: "labels",
      header: "Labels",
      cell: (a) => {
        const l = Object.entries(a.labels);
        return l.length ? (
          <ul className={styles.chips}>
            {l.map(([k, v]) => (
              <li key={k}>
                <Badge>
                  {k}={v}
                </Badge>
              </li>
            ))}
          </ul>
        ) : (
          <span className={styles.muted}>none</span>
        );
      },
    },
    { key: "role", header: "Role", sortValue: (a) => a.role, cell: (a) => roleNames[a.role] ?? a.role },
    {
      key: "release",
      header: "Release",
      sortValue: (a) => a.latestRelease,
      cell: (a) =>
        a.latestRelease === 0n ? (
          <span className={styles.muted}>never released</span>
        ) : (
          <>
            #{a.latestRelease.toString()}
            {a.stagingRelease > a.stableRelease && <> (staging #{a.stagingRelease.toString()})</>}
          </>
        ),
    },
    {
      key: "pending",
      header: "Unreleased changes",
      sortValue: (a) => a.pendingChanges,
      cell: (a) => (a.pendingChanges > 0 ? <Badge tone="warn">{plural(a.pendingChanges, "change")}</Badge> : <Badge tone="ok">released</Badge>),
    },
    { key: "created", header: "Created", sortValue: (a) => a.createdAt?.seconds ?? 0n, cell: (a) => <span className={styles.nowrap}>{formatTime(a.createdAt)}</span> },
    { key: "updated", header: "Updated", sortValue: (a) => a.updatedAt?.seconds ?? 0n, cell: (a) => <span className={styles.nowrap}>{formatTime(a.updatedAt)}</span> },
  ];

  const rows = (apps.data?.apps ?? []).filter((a) => !a.deleted);
  const next = apps.data?.nextPageToken ?? "";
  const page = tokens.length;
  const filtered = q || unreleased || raw;
  // A bad raw filter is the user's input: say so beside the box.
  const filterError = raw && apps.error && errorKind(apps.error) === "invalid" ? errorMessage(apps.error) : "";

  return (
    <>
      <PageHeader
        title="Applications"
        description="HTTP, stream and forward-proxy apps: their domains, partitions, labels and release state."
        actions={
          <button type="button" disabled={!canEdit || creating} onClick={() => setCreating(true)}>
            New application
          </button>
        }
      />
      {creating && <AppSettingsForm onDone={(id) => navigate(`/apps/${id}`)} onCancel={() => setCreating(false)} />}
      <form
        className={styles.filters}
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          set("filter", rawDraft.trim());
        }}
      >
        <label className={styles.field}>
          <span>Search by domain or name</span>
          <input type="search" value={q} placeholder="shop.example.com" onChange={(e) => set("q", e.target.value)} />
        </label>
        <label className={styles.check}>
          <input type="checkbox" checked={unreleased} onChange={(e) => set("unreleased", e.target.checked ? "1" : "")} />
          <span>Only apps with unreleased changes</span>
        </label>
        <label className={`${styles.field} ${styles.grow}`}>
          <span>Filter (labels, partition, …)</span>
          <input
            value={rawDraft}
            spellCheck={false}
            placeholder='labels.env = "prod" AND partition:"edge"'
            aria-invalid={filterError ? true : undefined}
            aria-describedby={filterError ? "filter-error" : undefined}
            onChange={(e) => setRawDraft(e.target.value)}
          />
        </label>
        <button type="submit">Apply filter</button>
      </form>
      {filterError && (
        <p id="filter-error" className={styles.filterError} role="alert">
          {filterError}
        </p>
      )}
      {apps.error && !filterError ? (
        <ErrorPanel error={apps.error} what="list applications" />
      ) : apps.isPending ? (
        <Loading what="applications" />
      ) : filterError ? null : (
        <>
          <Table
            caption={`${plural(rows.length, "application")}${filtered ? " matching" : ""}${page > 1 || next ? `, page ${page}` : ""}`}
            columns={columns}
            rows={rows}
            rowKey={(a) => a.id}
            empty={
              filtered ? (
                "No application matches."
              ) : (
                <>
                  No applications yet. Create one with <code>strata app create --name shop --domain shop.example.com</code>.
                </>
              )
            }
          />
          {(page > 1 || next) && (
            <nav className={styles.pager} aria-label="Pages of applications">
              <button type="button" disabled={page === 1} onClick={() => setTokens((t) => t.slice(0, -1))}>
                Previous page
              </button>
              <span>Page {page}</span>
              <button type="button" disabled={!next} onClick={() => setTokens((t) => [...t, next])}>
                Next page
              </button>
            </nav>
          )}
        </>
      )}
    </>
  );
}
