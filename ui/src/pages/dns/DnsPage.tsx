import { useState } from "react";
import { Link } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { DnsService, client, errorMessage, fieldViolations } from "../../api";
import type { ZoneSummary } from "../../gen/strata/dns/v1/dns_pb";
import { Table, type Column } from "../../components/Table";
import { ErrorPanel } from "../../components/ErrorPanel";
import { Badge, Loading, PageHeader } from "../../components/Page";
import { plural, releaseState } from "../../lib/format";
import { Field } from "./Field";
import styles from "./Dns.module.css";

// DnsPage lists the zones (DNS apps) with their release state, and creates
// and deletes zones.
export function DnsPage() {
  const qc = useQueryClient();
  const zones = useQuery(DnsService.method.listZones, { pageSize: 1000 });
  const [creating, setCreating] = useState(false);
  const [name, setName] = useState("");
  const [nameservers, setNameservers] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [deleting, setDeleting] = useState<ZoneSummary | null>(null);
  const [notice, setNotice] = useState("");

  const create = async (e: React.FormEvent) => {
    e.preventDefault();
    setErrors({});
    if (!name.trim()) return setErrors({ name: "required (example.com)" });
    try {
      const ns = nameservers.split(/[\s,]+/).filter(Boolean);
      const r = await client(DnsService).createZone({ name: name.trim(), nameservers: ns });
      setNotice(`Zone ${r.zone?.name} created; it is served from its first release.`);
      setCreating(false);
      setName("");
      setNameservers("");
      await qc.invalidateQueries();
    } catch (err) {
      const out: Record<string, string> = {};
      for (const v of fieldViolations(err)) out[v.field.startsWith("nameservers") ? "nameservers" : v.field === "name" ? "name" : "form"] = v.description;
      if (!Object.keys(out).length) out.form = errorMessage(err);
      setErrors(out);
    }
  };

  const remove = async (z: ZoneSummary) => {
    try {
      await client(DnsService).deleteZone({ zone: z.id, expectedVersion: z.version });
      setNotice(`Zone ${z.name} deleted; the next release removes it from the nodes.`);
      setDeleting(null);
      await qc.invalidateQueries();
    } catch (err) {
      setNotice(`Could not delete ${z.name}: ${errorMessage(err)}`);
    }
  };

  const columns: Column<ZoneSummary>[] = [
    { key: "name", header: "Zone", sortValue: (z) => z.name, cell: (z) => <Link to={`/dns/${z.id}`}>{z.name}</Link> },
    { key: "records", header: "Records", numeric: true, sortValue: (z) => z.records, cell: (z) => z.records },
    { key: "release", header: "Release", sortValue: (z) => z.latestRelease, cell: (z) => releaseState(z.latestRelease, z.pendingChanges) },
    {
      key: "state",
      header: "State",
      cell: (z) => (z.deleted ? <Badge tone="danger">deleted, unreleased</Badge> : z.pendingChanges > 0 ? <Badge tone="warn">{plural(z.pendingChanges, "change")}</Badge> : <Badge tone="ok">released</Badge>),
    },
    {
      key: "actions",
      header: "Actions",
      cell: (z) => (z.deleted ? null : <button type="button" className={styles.danger} onClick={() => setDeleting(z)} aria-label={`Delete zone ${z.name}`}>Delete</button>),
    },
  ];

  return (
    <>
      <PageHeader
        title="DNS"
        description="Authoritative zones served by the edge nodes: records, geo and subnet answers, gateway and GSLB records, releases."
        actions={<button type="button" className={styles.primary} onClick={() => setCreating((c) => !c)}>{creating ? "Cancel" : "Create zone"}</button>}
      />
      {notice && <p className={styles.notice} role="status">{notice}</p>}
      {creating && (
        <form className={styles.form} onSubmit={create} aria-label="Create zone">
          <Field label="Zone name" error={errors.name}>
            {(p) => <input {...p} value={name} placeholder="example.com" onChange={(e) => setName(e.target.value)} />}
          </Field>
          <Field label="Name servers (comma-separated)" error={errors.nameservers} wide>
            {(p) => <input {...p} value={nameservers} placeholder="ns1.example.com, ns2.example.com" onChange={(e) => setNameservers(e.target.value)} />}
          </Field>
          {errors.form && <p className={styles.formError} role="alert">{errors.form}</p>}
          <div className={styles.buttons}>
            <button type="submit" className={styles.primary}>Create</button>
          </div>
        </form>
      )}
      {deleting && (
        <div className={styles.confirm} role="alertdialog" aria-labelledby="delete-zone-title">
          <h3 id="delete-zone-title">Delete zone {deleting.name}?</h3>
          <p>The zone leaves the working copy; the nodes stop serving it with the next release.</p>
          <div className={styles.row}>
            <button type="button" className={styles.danger} onClick={() => remove(deleting)}>Delete {deleting.name}</button>
            <button type="button" onClick={() => setDeleting(null)}>Cancel</button>
          </div>
        </div>
      )}
      {zones.error ? (
        <ErrorPanel error={zones.error} what="list zones" />
      ) : zones.isPending ? (
        <Loading what="zones" />
      ) : (
        <Table
          caption={plural(zones.data.zones.length, "zone") + (zones.data.nextPageToken ? " (the first 1000)" : "")}
          columns={columns}
          rows={zones.data.zones}
          rowKey={(z) => z.id}
          initialSort={{ key: "name", dir: "asc" }}
          empty={<>No zones yet. Create one here or with <code>strata dns zone create example.com</code>.</>}
        />
      )}
    </>
  );
}
