import { useEffect, useMemo, useState } from "react";
import { useSearchParams } from "react-router";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { client, IAMService } from "../../api";
import type { AuditEvent } from "../../gen/strata/iam/v1/iam_pb";
import { Table, type Column } from "../../components/Table";
import { ErrorPanel } from "../../components/ErrorPanel";
import { Loading, PageHeader } from "../../components/Page";
import { buildAuditRequest, lastHours, prettyJson, searchFromParams, searchToParams, type AuditSearch } from "./filter";
import styles from "./AuditPage.module.css";

const iam = client(IAMService);

function when(e: AuditEvent): string {
  return e.time ? new Date(Number(e.time.seconds) * 1000).toLocaleString() : "";
}

export function AuditPage() {
  const [params, setParams] = useSearchParams();
  const search = useMemo(() => searchFromParams(params), [params]);
  const [draft, setDraft] = useState<AuditSearch>(search);
  useEffect(() => setDraft(search), [search]);
  const built = useMemo(() => buildAuditRequest(search), [search]);
  const [events, setEvents] = useState<AuditEvent[]>([]);
  const [next, setNext] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [open, setOpen] = useState<AuditEvent | null>(null);

  const load = async (pageToken: string) => {
    if (!("request" in built)) return;
    const r = built.request;
    setLoading(true);
    try {
      const res = await iam.listAuditEvents({
        actor: r.actor,
        stream: r.stream,
        type: r.type,
        filter: r.filter,
        pageSize: r.pageSize,
        pageToken,
        ...(r.since ? { since: timestampFromDate(r.since) } : {}),
        ...(r.until ? { until: timestampFromDate(r.until) } : {}),
      });
      setError(null);
      setEvents((prev) => (pageToken ? [...prev, ...res.events] : res.events));
      setNext(res.nextPageToken);
    } catch (e) {
      setError(e);
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => {
    setEvents([]);
    setOpen(null);
    load("");
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [built]);

  const apply = (s: AuditSearch) => setParams(searchToParams(s), { replace: true });
  const field = (k: keyof AuditSearch, label: string, placeholder: string, type = "text") => (
    <label className={styles.field}>
      <span>{label}</span>
      <input
        type={type}
        value={draft[k]}
        placeholder={placeholder}
        aria-invalid={"error" in built && built.error.field === k ? true : undefined}
        onChange={(e) => setDraft({ ...draft, [k]: e.target.value })}
      />
    </label>
  );

  const cols: Column<AuditEvent>[] = [
    { key: "time", header: "Time", cell: when },
    { key: "actor", header: "Actor", cell: (e) => e.actor || <span className={styles.muted}>system</span> },
    { key: "type", header: "Event", cell: (e) => <span className={styles.mono}>{e.type}</span> },
    { key: "stream", header: "Object", cell: (e) => <span className={styles.mono}>{e.stream}</span> },
    {
      key: "detail",
      header: "Detail",
      cell: (e) => (
        <button type="button" aria-expanded={open?.id === e.id} onClick={() => setOpen(open?.id === e.id ? null : e)} aria-label={`${open?.id === e.id ? "Hide" : "Show"} detail of ${e.type} at ${when(e)}`}>
          {open?.id === e.id ? "Hide" : "Show"}
        </button>
      ),
    },
  ];

  return (
    <>
      <PageHeader title="Audit" description="Every change, who made it and when: the event log, newest first. Secrets (hashes, passwords, keys) are removed by the server." />
      <form
        className={styles.filters}
        role="search"
        aria-label="Search the audit log"
        onSubmit={(e) => {
          e.preventDefault();
          apply(draft);
        }}
      >
        {field("actor", "Actor", "admin, user:alice")}
        {field("object", "Object", "iam.user, app.app_1")}
        {field("type", "Event type", "iam, config.app")}
        {field("since", "Since", "", "datetime-local")}
        {field("until", "Until", "", "datetime-local")}
        {field("filter", "Filter (AIP-160)", 'type = "iam.user.created"')}
        <div className={styles.buttons}>
          <button type="submit">Search</button>
          <button type="button" onClick={() => apply({ ...draft, since: lastHours(1), until: "" })}>
            Last hour
          </button>
          <button type="button" onClick={() => apply({ ...draft, since: lastHours(24), until: "" })}>
            Last day
          </button>
          <button type="button" onClick={() => apply({ actor: "", object: "", type: "", since: "", until: "", filter: "" })}>
            Clear
          </button>
        </div>
      </form>
      {"error" in built ? (
        <p role="alert" className={styles.invalid}>
          {built.error.field}: {built.error.message}
        </p>
      ) : null}
      {error ? <ErrorPanel error={error} what="list audit events" /> : null}
      {loading && events.length === 0 ? (
        <Loading what="audit events" />
      ) : (
        <Table caption={`${events.length} event${events.length === 1 ? "" : "s"}${next ? " (more below)" : ""}`} columns={cols} rows={events} rowKey={(e) => e.id || e.position.toString()} empty="No event matches." />
      )}
      {next && (
        <button type="button" onClick={() => load(next)} disabled={loading}>
          Older events
        </button>
      )}
      {open && (
        <section className={styles.detail} aria-labelledby="audit-detail">
          <h2 id="audit-detail">
            {open.type} <span className={styles.muted}>#{open.position.toString()}</span>
          </h2>
          <dl className={styles.meta}>
            <dt>Time</dt>
            <dd>{when(open)}</dd>
            <dt>Actor</dt>
            <dd>{open.actor || "system"}</dd>
            <dt>Object</dt>
            <dd className={styles.mono}>{open.stream}</dd>
            <dt>Event id</dt>
            <dd className={styles.mono}>{open.id}</dd>
            {open.requestId && (
              <>
                <dt>Request id</dt>
                <dd className={styles.mono}>{open.requestId}</dd>
              </>
            )}
            {open.causationId && (
              <>
                <dt>Caused by</dt>
                <dd className={styles.mono}>{open.causationId}</dd>
              </>
            )}
          </dl>
          <pre className={styles.json} tabIndex={0} aria-label="Event data">{prettyJson(open.dataJson) || "(no data: the type is unknown to this server)"}</pre>
        </section>
      )}
    </>
  );
}
