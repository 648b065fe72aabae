import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { create } from "@bufbuild/protobuf";
import { DnsService, client, errorMessage, fieldViolations } from "../../api";
import type { Release } from "../../gen/strata/dns/v1/dns_pb";
import { SoaSchema, type Record as DnsRecord, type Zone } from "../../gen/strata/dns/v1/zone_pb";
import { Table, type Column } from "../../components/Table";
import { ErrorPanel } from "../../components/ErrorPanel";
import { Badge, Loading, PageHeader, Section } from "../../components/Page";
import { formatTime, plural, releaseState } from "../../lib/format";
import { Field } from "./Field";
import {
  describeMatch, describeResponse, emptyForm, formToRecord, recordToForm, recordTypes, typeName, validateRecordForm, violationErrors,
  type FormErrors, type RecordForm,
} from "./records";
import styles from "./Dns.module.css";

// ZonePage is one zone: its records (add, edit, remove, enable/disable),
// settings, import and export, pending changes and releases.
export function ZonePage() {
  const { zoneId = "" } = useParams();
  const qc = useQueryClient();
  const zone = useQuery(DnsService.method.getZone, { zone: zoneId });
  const [notice, setNotice] = useState("");
  const refresh = () => qc.invalidateQueries();

  if (zone.error) return <ErrorPanel error={zone.error} what={`read zone ${zoneId}`} />;
  if (zone.isPending) return <Loading what="zone" />;
  const z = zone.data.zone!;
  const version = zone.data.version;
  const say = async (s: string) => {
    setNotice(s);
    await refresh();
  };

  return (
    <>
      <PageHeader
        title={z.name}
        description={<>DNS zone · {releaseState(zone.data.latestRelease, zone.data.pendingChanges)} · <Link to="/dns">all zones</Link></>}
        actions={<ExportButton zone={z} />}
      />
      {notice && <p className={styles.notice} role="status">{notice}</p>}
      <Records zone={z} version={version} say={say} />
      <Changes zoneId={z.id} version={version} pending={zone.data.pendingChanges} say={say} />
      <Releases zoneId={z.id} version={version} say={say} />
      <Import zoneId={z.id} version={version} say={say} />
      <Settings zone={z} version={version} say={say} />
    </>
  );
}

type Props = { version: bigint; say: (s: string) => Promise<void> };

function ExportButton({ zone }: { zone: Zone }) {
  const [err, setErr] = useState("");
  const run = async (released: boolean) => {
    setErr("");
    try {
      const r = await client(DnsService).exportZone({ zone: zone.id, released });
      const url = URL.createObjectURL(new Blob([r.zoneFile], { type: "text/dns" }));
      const a = document.createElement("a");
      a.href = url;
      a.download = `${zone.name.replace(/\.$/, "")}${released ? ".released" : ""}.zone`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (e) {
      setErr(errorMessage(e));
    }
  };
  return (
    <div className={styles.row}>
      <button type="button" onClick={() => run(false)}>Export zone file</button>
      <button type="button" onClick={() => run(true)}>Export released</button>
      {err && <span className={styles.error} role="alert">{err}</span>}
    </div>
  );
}

function Records({ zone, version, say }: Props & { zone: Zone }) {
  const [form, setForm] = useState<RecordForm | null>(null);
  const [errors, setErrors] = useState<FormErrors>({});
  const [removing, setRemoving] = useState<DnsRecord | null>(null);
  const svc = client(DnsService);
  const label = (r: DnsRecord) => `${r.name} ${typeName(r.type)}`;

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    if (!form) return;
    const errs = validateRecordForm(form);
    setErrors(errs);
    if (Object.keys(errs).length) return;
    const record = formToRecord(form);
    try {
      if (form.id) await svc.updateRecord({ zone: zone.id, expectedVersion: version, record });
      else await svc.addRecord({ zone: zone.id, expectedVersion: version, record });
      setForm(null);
      await say(`Record ${record.name} ${form.type} ${form.id ? "updated" : "added"} (pending until released).`);
    } catch (err) {
      const vs = violationErrors(fieldViolations(err));
      setErrors(Object.keys(vs).length ? vs : { form: errorMessage(err) });
    }
  };
  const toggle = async (r: DnsRecord) => {
    try {
      await svc.updateRecord({ zone: zone.id, expectedVersion: version, record: { ...r, disabled: !r.disabled } });
      await say(`Record ${label(r)} ${r.disabled ? "enabled" : "disabled"} (pending until released).`);
    } catch (err) {
      await say(`Could not change ${label(r)}: ${errorMessage(err)}`);
    }
  };
  const remove = async (r: DnsRecord) => {
    try {
      await svc.removeRecord({ zone: zone.id, expectedVersion: version, recordId: r.id });
      setRemoving(null);
      await say(`Record ${label(r)} removed (pending until released).`);
    } catch (err) {
      await say(`Could not remove ${label(r)}: ${errorMessage(err)}`);
    }
  };

  const columns: Column<DnsRecord>[] = [
    { key: "type", header: "Type", sortValue: (r) => typeName(r.type), cell: (r) => typeName(r.type) },
    { key: "name", header: "Name", sortValue: (r) => r.name, cell: (r) => <span className={styles.mono}>{r.name}</span> },
    { key: "match", header: "Client location / subnet", cell: (r) => describeMatch(r.match) || <span className={styles.muted}>everyone</span> },
    { key: "response", header: "Response", sortValue: (r) => describeResponse(r), cell: (r) => <span className={styles.mono}>{describeResponse(r)}</span> },
    { key: "ttl", header: "TTL", numeric: true, sortValue: (r) => r.ttl, cell: (r) => (r.ttl ? r.ttl : <span className={styles.muted}>default</span>) },
    {
      key: "enabled",
      header: "Enabled",
      cell: (r) => (
        <label className={styles.check}>
          <input type="checkbox" checked={!r.disabled} onChange={() => toggle(r)} aria-label={`Enabled: ${label(r)}`} />
          {r.disabled ? <Badge tone="neutral">disabled</Badge> : <Badge tone="ok">enabled</Badge>}
        </label>
      ),
    },
    {
      key: "actions",
      header: "Actions",
      cell: (r) => (
        <div className={styles.row}>
          <button type="button" aria-label={`Edit ${label(r)}`} onClick={() => { setErrors({}); setForm(recordToForm(r)); }}>Edit</button>
          <button type="button" className={styles.danger} aria-label={`Remove ${label(r)}`} onClick={() => setRemoving(r)}>Remove</button>
        </div>
      ),
    },
  ];
  const set = <K extends keyof RecordForm>(k: K, v: RecordForm[K]) => setForm((f) => (f ? { ...f, [k]: v } : f));

  return (
    <Section
      title="Records"
      actions={<button type="button" className={styles.primary} onClick={() => { setErrors({}); setForm(form ? null : { ...emptyForm }); }}>{form ? "Cancel" : "Add record"}</button>}
    >
      {form && (
        <form className={styles.form} onSubmit={submit} aria-label={form.id ? "Edit record" : "Add record"} noValidate>
          <Field label="Name" error={errors.name}>
            {(p) => <input {...p} value={form.name} placeholder="www, @, *.img" onChange={(e) => set("name", e.target.value)} />}
          </Field>
          <Field label="Type" error={errors.type}>
            {(p) => (
              <select {...p} value={form.type} onChange={(e) => set("type", e.target.value)}>
                {recordTypes.map((t) => <option key={t}>{t}</option>)}
              </select>
            )}
          </Field>
          <Field label="TTL (seconds)" error={errors.ttl}>
            {(p) => <input {...p} inputMode="numeric" value={form.ttl} placeholder="300" onChange={(e) => set("ttl", e.target.value)} />}
          </Field>
          <Field label="Response" error={errors.mode}>
            {(p) => (
              <select {...p} value={form.mode} onChange={(e) => set("mode", e.target.value as RecordForm["mode"])}>
                <option value="data">data</option>
                <option value="cluster">gateway cluster</option>
                <option value="gslb">GSLB targets</option>
              </select>
            )}
          </Field>
          {form.mode === "data" && (
            <Field label="Data" error={errors.data} wide>
              {(p) => <input {...p} value={form.data} placeholder='192.0.2.1, 10 mail.example.com., "v=spf1 -all"' onChange={(e) => set("data", e.target.value)} />}
            </Field>
          )}
          {form.mode === "cluster" && (
            <Field label="Gateway cluster" error={errors.cluster} wide>
              {(p) => <input {...p} value={form.cluster} placeholder="cluster id or name" onChange={(e) => set("cluster", e.target.value)} />}
            </Field>
          )}
          {form.mode === "gslb" && (
            <Field label='GSLB targets (one "cluster weight" per line)' error={errors.targets} wide>
              {(p) => <textarea {...p} value={form.targets} placeholder={"eu-west 3\nus-east 1"} onChange={(e) => set("targets", e.target.value)} />}
            </Field>
          )}
          <fieldset className={styles.group}>
            <legend className={styles.legend}>Client location / subnet match (empty: everyone)</legend>
            <Field label="Countries" error={errors.countries}>
              {(p) => <input {...p} value={form.countries} placeholder="DE, FR" onChange={(e) => set("countries", e.target.value)} />}
            </Field>
            <Field label="Continents" error={errors.continents}>
              {(p) => <input {...p} value={form.continents} placeholder="EU, NA" onChange={(e) => set("continents", e.target.value)} />}
            </Field>
            <Field label="ASNs" error={errors.asns}>
              {(p) => <input {...p} value={form.asns} placeholder="3320, 13335" onChange={(e) => set("asns", e.target.value)} />}
            </Field>
            <Field label="ISPs (comma-separated)" error={errors.isps}>
              {(p) => <input {...p} value={form.isps} placeholder="Deutsche Telekom AG" onChange={(e) => set("isps", e.target.value)} />}
            </Field>
            <Field label="Client subnets (CIDR)" error={errors.cidrs}>
              {(p) => <input {...p} value={form.cidrs} placeholder="203.0.113.0/24" onChange={(e) => set("cidrs", e.target.value)} />}
            </Field>
          </fieldset>
          <label className={styles.check}>
            <input type="checkbox" checked={form.disabled} onChange={(e) => set("disabled", e.target.checked)} />
            <span>Disabled</span>
          </label>
          {errors.form && <p className={styles.formError} role="alert">{errors.form}</p>}
          <div className={styles.buttons}>
            <button type="submit" className={styles.primary}>{form.id ? "Save record" : "Add"}</button>
            <button type="button" onClick={() => setForm(null)}>Cancel</button>
          </div>
        </form>
      )}
      {removing && (
        <div className={styles.confirm} role="alertdialog" aria-labelledby="remove-record-title">
          <h3 id="remove-record-title">Remove {label(removing)} {describeResponse(removing)}?</h3>
          <div className={styles.row}>
            <button type="button" className={styles.danger} onClick={() => remove(removing)}>Remove record</button>
            <button type="button" onClick={() => setRemoving(null)}>Cancel</button>
          </div>
        </div>
      )}
      <Table
        caption={`${plural(zone.records.length, "record")} in ${zone.name}`}
        columns={columns}
        rows={zone.records}
        rowKey={(r) => r.id}
        initialSort={{ key: "name", dir: "asc" }}
        empty="No records yet (the SOA and apex NS come from the zone's settings)."
      />
    </Section>
  );
}

function Changes({ zoneId, version, pending, say }: Props & { zoneId: string; pending: number }) {
  const diff = useQuery(DnsService.method.diffZone, { zone: zoneId });
  const [note, setNote] = useState("");
  const [staging, setStaging] = useState(false);
  const [err, setErr] = useState("");
  const release = async (e: React.FormEvent) => {
    e.preventDefault();
    setErr("");
    try {
      const r = await client(DnsService).createRelease({ zone: zoneId, expectedVersion: version, note, staging });
      setNote("");
      await say(`Release #${r.release?.number} created${staging ? " for the staging nodes" : ""}.`);
    } catch (e) {
      setErr(errorMessage(e));
    }
  };
  return (
    <Section title="Pending changes">
      {diff.error ? (
        <ErrorPanel error={diff.error} what="diff the zone" />
      ) : diff.isPending ? (
        <Loading what="changes" />
      ) : diff.data.changes.length === 0 ? (
        <p className={styles.muted}>Nothing to release: the nodes serve the working copy.</p>
      ) : (
        <>
          <ul>
            {diff.data.changes.map((c, i) => (
              <li key={i}>
                {c.summary} <span className={styles.muted}>({c.actor}, {formatTime(c.time)})</span>
              </li>
            ))}
          </ul>
          {diff.data.text && <pre className={styles.diff} aria-label="Zone file diff">{diff.data.text}</pre>}
        </>
      )}
      {pending > 0 && (
        <form className={styles.form} onSubmit={release} aria-label="Release">
          <Field label="Release note" wide>
            {(p) => <input {...p} value={note} onChange={(e) => setNote(e.target.value)} placeholder="what and why" />}
          </Field>
          <label className={styles.check}>
            <input type="checkbox" checked={staging} onChange={(e) => setStaging(e.target.checked)} />
            <span>Staging nodes only</span>
          </label>
          {err && <p className={styles.formError} role="alert">{err}</p>}
          <div className={styles.buttons}>
            <button type="submit" className={styles.primary}>Release {plural(pending, "change")}</button>
          </div>
        </form>
      )}
    </Section>
  );
}

function Releases({ zoneId, version, say }: Props & { zoneId: string }) {
  const rels = useQuery(DnsService.method.listReleases, { zone: zoneId, pageSize: 1000 });
  const diff = useQuery(DnsService.method.diffZone, { zone: zoneId });
  const [reverting, setReverting] = useState<Release | null>(null);
  const [err, setErr] = useState("");
  const svc = client(DnsService);
  const promote = async () => {
    setErr("");
    try {
      const r = await svc.promoteRelease({ zone: zoneId, expectedVersion: version });
      await say(`Release #${r.release?.number} promoted to the stable nodes.`);
    } catch (e) {
      setErr(errorMessage(e));
    }
  };
  const revert = async (to: Release) => {
    setErr("");
    try {
      const r = await svc.revertZone({ zone: zoneId, expectedVersion: version, toRelease: to.number, note: `revert to #${to.number}` });
      setReverting(null);
      await say(`Reverted: release #${r.release?.number} restores release #${to.number}.`);
    } catch (e) {
      setErr(errorMessage(e));
    }
  };
  if (rels.error) return <ErrorPanel error={rels.error} what="list releases" />;
  if (rels.isPending) return <Loading what="releases" />;
  const { stableRelease, stagingRelease } = rels.data;
  const list = [...rels.data.releases].reverse();
  const columns: Column<Release>[] = [
    { key: "number", header: "Release", numeric: true, cell: (r) => `#${r.number}` },
    {
      key: "kind",
      header: "Kind",
      cell: (r) => (
        <>
          {r.kind === "revert" ? `revert to #${r.revertedTo}` : r.kind}
          {r.staging && <> <Badge tone="info">{r.promotedBy ? "staging, promoted" : "staging"}</Badge></>}
          {r.number === stableRelease && <> <Badge tone="ok">stable nodes</Badge></>}
          {r.number === stagingRelease && r.number !== stableRelease && <> <Badge tone="warn">staging nodes</Badge></>}
        </>
      ),
    },
    { key: "note", header: "Note", cell: (r) => r.note || <span className={styles.muted}>—</span> },
    { key: "actor", header: "By", cell: (r) => r.actor },
    { key: "time", header: "When", cell: (r) => formatTime(r.time) },
    {
      key: "actions",
      header: "Actions",
      cell: (r) => (r.number === stableRelease ? null : <button type="button" onClick={() => setReverting(r)} aria-label={`Revert to release ${r.number}`}>Revert</button>),
    },
  ];
  return (
    <Section
      title="Releases"
      actions={stagingRelease > stableRelease ? <button type="button" className={styles.primary} onClick={promote}>Promote #{stagingRelease.toString()} to stable</button> : undefined}
    >
      {err && <p className={styles.formError} role="alert">{err}</p>}
      {reverting && (
        <div className={styles.confirm} role="alertdialog" aria-labelledby="revert-title">
          <h3 id="revert-title">Revert to release #{reverting.number.toString()}?</h3>
          <p>
            A new release restores the content of #{reverting.number.toString()} (“{reverting.note || reverting.kind}”) on the nodes, replacing
            #{stableRelease.toString()}; the working copy becomes it too.
          </p>
          {diff.data && diff.data.changes.length > 0 ? (
            <>
              <p>These unreleased changes are discarded:</p>
              <pre className={styles.diff} aria-label="Discarded changes">{diff.data.text || diff.data.changes.map((c) => c.summary).join("\n")}</pre>
            </>
          ) : (
            <p className={styles.muted}>There are no unreleased changes to discard.</p>
          )}
          <div className={styles.row}>
            <button type="button" className={styles.danger} onClick={() => revert(reverting)}>Revert to #{reverting.number.toString()}</button>
            <button type="button" onClick={() => setReverting(null)}>Cancel</button>
          </div>
        </div>
      )}
      <Table caption={plural(list.length, "release") + (rels.data.nextPageToken ? " (the first 1000)" : "")} hideCaption={!rels.data.nextPageToken} columns={columns} rows={list} rowKey={(r) => r.number.toString()} empty="Never released." />
    </Section>
  );
}

function Import({ zoneId, version, say }: Props & { zoneId: string }) {
  const [text, setText] = useState("");
  const [errors, setErrors] = useState<string[]>([]);
  const [open, setOpen] = useState(false);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setErrors([]);
    if (!text.trim()) return setErrors(["paste a zone file or choose one"]);
    try {
      const r = await client(DnsService).importZone({ zone: zoneId, expectedVersion: version, zoneFile: text });
      setText("");
      setOpen(false);
      await say(`Imported ${plural(r.records, "record")} (pending until released).`);
    } catch (err) {
      const vs = fieldViolations(err);
      setErrors(vs.length ? vs.map((v) => `${v.field}: ${v.description}`) : [errorMessage(err)]);
    }
  };
  return (
    <Section title="Import" actions={<button type="button" onClick={() => setOpen((o) => !o)}>{open ? "Cancel" : "Import zone file"}</button>}>
      {open && (
        <form className={styles.form} onSubmit={submit} aria-label="Import zone file">
          <p className={styles.legend}>The file's records replace the zone's records (its SOA and apex NS set the zone's settings).</p>
          <Field label="Zone file" wide error={errors.length ? errors.join("\n") : undefined}>
            {(p) => <textarea {...p} value={text} onChange={(e) => setText(e.target.value)} placeholder={"$TTL 300\nwww IN A 192.0.2.1"} />}
          </Field>
          <Field label="Or upload a file">
            {(p) => <input {...p} type="file" accept=".zone,.txt,text/plain" onChange={async (e) => { const f = e.target.files?.[0]; if (f) setText(await f.text()); }} />}
          </Field>
          <div className={styles.buttons}>
            <button type="submit" className={styles.primary}>Import</button>
          </div>
        </form>
      )}
    </Section>
  );
}

function Settings({ zone, version, say }: Props & { zone: Zone }) {
  const navigate = useNavigate();
  const [ns, setNs] = useState(zone.nameservers.join(", "));
  const [rname, setRname] = useState(zone.soa?.rname ?? "");
  const [minimum, setMinimum] = useState(String(zone.soa?.minimum ?? ""));
  const [ttl, setTtl] = useState(String(zone.soa?.ttl ?? ""));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const errs: Record<string, string> = {};
    for (const [k, v] of [["minimum", minimum], ["ttl", ttl]] as const) if (v && !/^\d+$/.test(v)) errs[k] = "seconds, a whole number";
    setErrors(errs);
    if (Object.keys(errs).length) return;
    try {
      const soa = create(SoaSchema, { mname: zone.soa?.mname, refresh: zone.soa?.refresh, retry: zone.soa?.retry, expire: zone.soa?.expire, rname: rname.trim(), minimum: Number(minimum || 0), ttl: Number(ttl || 0) });
      await client(DnsService).updateZone({
        zone: zone.id, expectedVersion: version, partitions: zone.partitionIds, labels: zone.labels, soa,
        nameservers: ns.split(/[\s,]+/).filter(Boolean),
      });
      await say("Zone settings saved (pending until released).");
    } catch (err) {
      const out: Record<string, string> = {};
      for (const v of fieldViolations(err)) {
        const k = v.field.startsWith("nameservers") ? "ns" : v.field === "soa.rname" ? "rname" : v.field === "soa.minimum" ? "minimum" : v.field === "soa.ttl" ? "ttl" : "form";
        out[k] = v.description;
      }
      setErrors(Object.keys(out).length ? out : { form: errorMessage(err) });
    }
  };
  return (
    <Section title="Settings">
      <form className={styles.form} onSubmit={submit} aria-label="Zone settings">
        <Field label="Name servers" error={errors.ns} wide>
          {(p) => <input {...p} value={ns} onChange={(e) => setNs(e.target.value)} />}
        </Field>
        <Field label="SOA mailbox (rname)" error={errors.rname}>
          {(p) => <input {...p} value={rname} placeholder="hostmaster.example.com." onChange={(e) => setRname(e.target.value)} />}
        </Field>
        <Field label="Negative TTL (SOA minimum)" error={errors.minimum}>
          {(p) => <input {...p} inputMode="numeric" value={minimum} onChange={(e) => setMinimum(e.target.value)} />}
        </Field>
        <Field label="SOA TTL" error={errors.ttl}>
          {(p) => <input {...p} inputMode="numeric" value={ttl} onChange={(e) => setTtl(e.target.value)} />}
        </Field>
        {errors.form && <p className={styles.formError} role="alert">{errors.form}</p>}
        <div className={styles.buttons}>
          <button type="submit">Save settings</button>
          <button type="button" onClick={() => navigate("/dns")}>Back to zones</button>
        </div>
      </form>
    </Section>
  );
}
