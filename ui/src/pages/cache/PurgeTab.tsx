import { useMemo, useState } from "react";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { ConfigService, PurgeService, errorMessage } from "../../api";
import type { Purge } from "../../gen/strata/purge/v1/purge_pb";
import { Table, type Column } from "../../components/Table";
import { ErrorPanel } from "../../components/ErrorPanel";
import { Badge, Loading, Section } from "../../components/Page";
import { formatTime } from "../../lib/format";
import { emptyForm, purgeDescription, validatePurge, type FormErrors, type Kind, type PurgeForm } from "./purgeForm";
import { usePurgeProgress } from "./usePurgeProgress";
import { ProgressView, durationText, progressRows } from "./Progress";
import styles from "./CachePage.module.css";

const kinds: { id: Kind; label: string; hint: string; placeholder: string }[] = [
  { id: "url", label: "URL", hint: "Exact URLs, one per line: https://host/path?query or host/path?query.", placeholder: "https://shop.example.com/products/42" },
  { id: "prefix", label: "Prefix", hint: "URL prefixes, one per line: host/path-prefix (no query).", placeholder: "shop.example.com/static/" },
  { id: "host", label: "Host", hint: "Host names, one per line: everything cached for them.", placeholder: "shop.example.com" },
  { id: "tag", label: "Tag", hint: "Surrogate keys (Cache-Tag or Surrogate-Key response header values), one per line.", placeholder: "product-42" },
  { id: "condition", label: "Condition", hint: "Objects of one host whose path matches a regex (RE2) and that have a response header.", placeholder: "" },
];

export function PurgeTab() {
  const [form, setForm] = useState<PurgeForm>(emptyForm);
  const [touched, setTouched] = useState(false);
  const [current, setCurrent] = useState("");
  const apps = useQuery(ConfigService.method.listApps, {});
  const partitions = useQuery(ConfigService.method.listPartitions, {});
  const nodes = useQuery(ConfigService.method.listNodes, {}, { refetchInterval: current ? 2000 : false });
  const recent = useQuery(PurgeService.method.listPurges, { pageSize: 20 }, { refetchInterval: 2000 });
  const create = useMutation(PurgeService.method.createPurge, {
    onSuccess: (res) => {
      setCurrent(res.purge?.id ?? "");
      void recent.refetch();
    },
  });

  const { errors, request } = validatePurge(form);
  const shown: FormErrors = touched ? errors : {};
  const set = <K extends keyof PurgeForm>(k: K, v: PurgeForm[K]) => setForm((f) => ({ ...f, [k]: v }));
  const kind = kinds.find((k) => k.id === form.kind)!;

  return (
    <>
      <form
        className={styles.form}
        aria-label="Purge"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          setTouched(true);
          if (request) create.mutate(request);
        }}
      >
        <fieldset className={styles.fieldset}>
          <legend>Purge by</legend>
          {kinds.map((k) => (
            <label key={k.id} className={styles.check}>
              <input type="radio" name="kind" value={k.id} checked={form.kind === k.id} onChange={() => set("kind", k.id)} />
              {k.label}
            </label>
          ))}
        </fieldset>
        {form.kind !== "condition" ? (
          <label className={styles.field}>
            <span>{kind.label === "URL" ? "URLs" : kind.label + "s"}</span>
            <textarea
              value={form.values}
              onChange={(e) => set("values", e.target.value)}
              onBlur={() => form.values && setTouched(true)}
              placeholder={kind.placeholder}
              aria-invalid={!!shown.values}
              aria-describedby="purge-values-hint purge-values-error"
              className={shown.values ? styles.invalid : undefined}
            />
            <span id="purge-values-hint" className={styles.hint}>
              {kind.hint}
            </span>
            <span id="purge-values-error" className={styles.fieldError}>
              {shown.values}
            </span>
          </label>
        ) : (
          <>
            <span className={styles.hint}>{kind.hint}</span>
            <div className={styles.row}>
              <Field label="Host" value={form.host} onChange={(v) => set("host", v)} error={shown["condition.host"]} placeholder="shop.example.com" id="cond-host" />
              <Field label="Path regex (RE2, empty: every path)" value={form.pathRegex} onChange={(v) => set("pathRegex", v)} placeholder="^/images/" id="cond-path" />
            </div>
            <div className={styles.row}>
              <Field label="Response header (optional)" value={form.header} onChange={(v) => set("header", v)} error={shown["condition.header"]} placeholder="Content-Type" id="cond-header" />
              <Field label="Header value (optional; empty: any)" value={form.headerValue} onChange={(v) => set("headerValue", v)} error={shown["condition.header_value"]} placeholder="image/png" id="cond-value" />
            </div>
          </>
        )}
        <fieldset className={styles.fieldset}>
          <legend>Where</legend>
          {(["all", "app", "partition"] as const).map((s) => (
            <label key={s} className={styles.check}>
              <input type="radio" name="scope" value={s} checked={form.scope === s} onChange={() => set("scope", s)} />
              {s === "all" ? "Every partition" : s === "app" ? "One app's partitions" : "One partition"}
            </label>
          ))}
          {form.scope === "app" && (
            <label className={styles.check}>
              <span>App</span>
              <select value={form.appId} onChange={(e) => set("appId", e.target.value)} aria-invalid={!!shown.scope}>
                <option value="">choose…</option>
                {(apps.data?.apps ?? []).filter((a) => !a.deleted).map((a) => (
                  <option key={a.id} value={a.id}>
                    {a.name}
                  </option>
                ))}
              </select>
            </label>
          )}
          {form.scope === "partition" && (
            <label className={styles.check}>
              <span>Partition</span>
              <select value={form.partitionId} onChange={(e) => set("partitionId", e.target.value)} aria-invalid={!!shown.scope}>
                <option value="">choose…</option>
                {(partitions.data?.partitions ?? []).map((p) => (
                  <option key={p.id} value={p.id}>
                    {p.name}
                  </option>
                ))}
              </select>
            </label>
          )}
          {shown.scope && <span className={styles.fieldError}>{shown.scope}</span>}
        </fieldset>
        <label className={styles.check}>
          <input type="checkbox" checked={form.soft} onChange={(e) => set("soft", e.target.checked)} />
          <span>Soft purge: mark stale (revalidated on the next request) instead of deleting</span>
        </label>
        <div className={styles.buttons}>
          <button type="submit" className={styles.primary} disabled={create.isPending}>
            {form.soft ? "Soft purge" : "Purge"}
          </button>
          {create.error && (
            <span role="alert" className={styles.error}>
              {errorMessage(create.error)}
            </span>
          )}
        </div>
      </form>

      {current && <CurrentPurge id={current} nodes={nodes.data?.nodes ?? []} />}

      <Section title="Recent purges">
        {recent.error ? (
          <ErrorPanel error={recent.error} what="list purges" />
        ) : recent.isPending ? (
          <Loading what="purges" />
        ) : (
          <RecentPurges purges={recent.data.purges} current={current} select={setCurrent} />
        )}
      </Section>
    </>
  );
}

function Field({ label, value, onChange, error, placeholder, id }: { label: string; value: string; onChange: (v: string) => void; error?: string; placeholder?: string; id: string }) {
  return (
    <label className={styles.field}>
      <span>{label}</span>
      <input value={value} onChange={(e) => onChange(e.target.value)} placeholder={placeholder} aria-invalid={!!error} aria-describedby={`${id}-error`} className={error ? styles.invalid : undefined} />
      <span id={`${id}-error`} className={styles.fieldError}>
        {error}
      </span>
    </label>
  );
}

function CurrentPurge({ id, nodes }: { id: string; nodes: Parameters<typeof progressRows>[1] }) {
  const q = usePurgeProgress(id);
  const p = q.data?.purge;
  const rows = useMemo(() => (p ? progressRows(p.acks, nodes, p.partitionIds, !!p.timeToLastAck) : []), [p, nodes]);
  return (
    <Section title={`Purge ${id}`}>
      {q.error ? (
        <ErrorPanel error={q.error} what="read the purge" />
      ) : !p ? (
        <Loading what="the purge" />
      ) : (
        <>
          <p className={styles.hint}>
            {purgeDescription(p)}
            {p.soft && " (soft)"} · requested {formatTime(p.createdAt)} by {p.actor || "—"}
          </p>
          <ProgressView
            label={`Purge ${id}`}
            total={p.nodesTotal}
            done={p.nodesDone}
            createdAt={p.createdAt}
            timeToLastAck={p.timeToLastAck}
            rows={rows}
            extra={[{ key: "objects", header: "Objects", numeric: true, cell: (r) => (r.ack ? r.ack.objects.toString() : "—") }]}
          />
        </>
      )}
    </Section>
  );
}

function RecentPurges({ purges, current, select }: { purges: Purge[]; current: string; select: (id: string) => void }) {
  const columns: Column<Purge>[] = [
    {
      key: "id",
      header: "Purge",
      cell: (p) => (
        <button type="button" className={`${styles.linkButton} ${p.id === current ? styles.selected : ""}`} onClick={() => select(p.id)} aria-label={`Show purge ${p.id}`}>
          {p.id}
        </button>
      ),
    },
    { key: "what", header: "What", cell: (p) => <span className={styles.mono}>{purgeDescription(p)}</span> },
    { key: "soft", header: "Mode", cell: (p) => (p.soft ? "soft" : "delete") },
    { key: "actor", header: "By", cell: (p) => p.actor || "—" },
    { key: "created", header: "Requested", cell: (p) => formatTime(p.createdAt) },
    {
      key: "progress",
      header: "Nodes",
      cell: (p) => <Badge tone={p.timeToLastAck ? "ok" : "info"}>{`${p.nodesDone}/${p.nodesTotal}${p.timeToLastAck ? ` in ${durationText(p.timeToLastAck)}` : ""}`}</Badge>,
    },
  ];
  return <Table caption="Recent purges" hideCaption columns={columns} rows={purges} rowKey={(p) => p.id} empty="No purges yet." />;
}
