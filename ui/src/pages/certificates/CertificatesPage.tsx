import { useEffect, useMemo, useState } from "react";
import { Link } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { CertService, ConfigService, client, errorMessage, fieldViolations } from "../../api";
import { CertificateState, ChallengeType, type AcmeAccount, type Certificate } from "../../gen/strata/cert/v1/cert_pb";
import { Table, type Column } from "../../components/Table";
import { ErrorPanel } from "../../components/ErrorPanel";
import { Badge, Loading, PageHeader, Section } from "../../components/Page";
import { formatTime, plural } from "../../lib/format";
import { Field } from "../dns/Field";
import { expiryLabel, expiryTone } from "./expiry";
import styles from "../dns/Dns.module.css";

type Errors = Record<string, string>;

// violationsOf maps the API's field violations to the form's field names
// (the request field itself), the rest under "form".
function violationsOf(err: unknown, fields: string[]): Errors {
  const out: Errors = {};
  for (const v of fieldViolations(err)) {
    const f = fields.find((k) => v.field === k || v.field.startsWith(k + "[") || v.field.startsWith(k + ".")) ?? "form";
    out[f] = out[f] ? `${out[f]}; ${v.description}` : f === "form" && v.field ? `${v.field}: ${v.description}` : v.description;
  }
  if (!Object.keys(out).length) out.form = errorMessage(err);
  return out;
}

const stateBadge = (c: Certificate) => {
  switch (c.state) {
    case CertificateState.PENDING:
      return <Badge tone="info">issuing</Badge>;
    case CertificateState.FAILED:
      return <Badge tone="danger">failed</Badge>;
    case CertificateState.ACTIVE:
      return <Badge tone="ok">active</Badge>;
    default:
      return <Badge>unknown</Badge>;
  }
};

// CertificatesPage lists certificates with their expiry, source, apps and
// renewal errors; uploads, requests (ACME), revokes, deletes, attaches and
// detaches them; and sets the ACME accounts.
export function CertificatesPage() {
  const qc = useQueryClient();
  const certs = useQuery(CertService.method.listCertificates, { pageSize: 1000 });
  const apps = useQuery(ConfigService.method.listApps, {});
  const [panel, setPanel] = useState<"" | "upload" | "request">("");
  const [notice, setNotice] = useState("");
  const [pendingId, setPendingId] = useState("");
  const [confirm, setConfirm] = useState<{ c: Certificate; what: "delete" | "revoke" } | null>(null);
  const [attach, setAttach] = useState<Certificate | null>(null);
  const now = useMemo(() => new Date(), [certs.dataUpdatedAt]);
  const appName = useMemo(() => {
    const m = new Map((apps.data?.apps ?? []).map((a) => [a.id, a.name]));
    return (id: string) => m.get(id) ?? id;
  }, [apps.data]);
  const say = async (s: string) => {
    setNotice(s);
    await qc.invalidateQueries();
  };
  const svc = client(CertService);

  const act = async () => {
    if (!confirm) return;
    const { c, what } = confirm;
    try {
      if (what === "delete") await svc.deleteCertificate({ certificate: c.id });
      else await svc.revokeCertificate({ certificate: c.id, reason: 0 });
      setConfirm(null);
      await say(what === "delete" ? `Certificate ${c.name} deleted.` : `Certificate ${c.name} revoked; a new one is being issued.`);
    } catch (err) {
      setConfirm(null);
      await say(`Could not ${what} ${c.name}: ${errorMessage(err)}`);
    }
  };
  const detach = async (c: Certificate, appId: string) => {
    try {
      await svc.detachCertificate({ certificate: c.id, appId });
      await say(`Certificate ${c.name} detached from ${appName(appId)}.`);
    } catch (err) {
      await say(`Could not detach: ${errorMessage(err)}`);
    }
  };

  const columns: Column<Certificate>[] = [
    {
      key: "name",
      header: "Name",
      sortValue: (c) => c.name,
      cell: (c) => (
        <>
          <strong>{c.name}</strong>
          <div className={styles.mono}>{c.domains.join(", ") || "—"}</div>
        </>
      ),
    },
    { key: "issuer", header: "Issuer", sortValue: (c) => c.issuer, cell: (c) => <span className={styles.mono}>{c.issuer || "—"}</span> },
    {
      key: "expiry",
      header: "Expiry",
      sortValue: (c) => (c.notAfter ? Number(c.notAfter.seconds) : Number.MAX_SAFE_INTEGER),
      cell: (c) => {
        const na = c.notAfter ? timestampDate(c.notAfter) : undefined;
        return (
          <>
            <Badge tone={expiryTone(na, now)}>{expiryLabel(na, now)}</Badge>
            {na && <div className={styles.muted}>{formatTime(c.notAfter)}</div>}
          </>
        );
      },
    },
    { key: "source", header: "Source", sortValue: (c) => (c.managed ? "acme" : "uploaded"), cell: (c) => (c.managed ? <>ACME <span className={styles.muted}>({c.challenge === ChallengeType.DNS_01 ? "DNS-01" : "HTTP-01"})</span></> : "uploaded") },
    { key: "state", header: "State", cell: stateBadge },
    {
      key: "apps",
      header: "Attached apps",
      cell: (c) =>
        c.appIds.length ? (
          <ul className={`${styles.row} ${styles.plain}`}>
            {c.appIds.map((id) => (
              <li key={id}>
                <Link to={`/apps/${id}`}>{appName(id)}</Link>{" "}
                <button type="button" aria-label={`Detach ${c.name} from ${appName(id)}`} onClick={() => detach(c, id)}>×</button>
              </li>
            ))}
          </ul>
        ) : (
          <span className={styles.muted}>none</span>
        ),
    },
    {
      key: "errors",
      header: "Renewal errors",
      cell: (c) => (c.lastError ? <span className={styles.error}>{c.lastError}{c.failedAttempts > 1 && ` (${c.failedAttempts} attempts)`}</span> : <span className={styles.muted}>none</span>),
    },
    {
      key: "actions",
      header: "Actions",
      cell: (c) => (
        <div className={styles.row}>
          <button type="button" aria-label={`Attach ${c.name} to an app`} onClick={() => setAttach(c)}>Attach</button>
          {c.managed && c.state === CertificateState.ACTIVE && (
            <button type="button" className={styles.danger} aria-label={`Revoke ${c.name}`} onClick={() => setConfirm({ c, what: "revoke" })}>Revoke</button>
          )}
          <button type="button" className={styles.danger} aria-label={`Delete ${c.name}`} onClick={() => setConfirm({ c, what: "delete" })}>Delete</button>
        </div>
      ),
    },
  ];

  return (
    <>
      <PageHeader
        title="Certificates"
        description="TLS certificates the edge serves: uploaded ones and ACME ones issued and renewed by Strata."
        actions={
          <>
            <button type="button" className={panel === "upload" ? undefined : styles.primary} onClick={() => setPanel(panel === "upload" ? "" : "upload")}>{panel === "upload" ? "Cancel upload" : "Upload certificate"}</button>
            <button type="button" onClick={() => setPanel(panel === "request" ? "" : "request")}>{panel === "request" ? "Cancel request" : "Request with ACME"}</button>
          </>
        }
      />
      {notice && <p className={styles.notice} role="status">{notice}</p>}
      {panel === "upload" && <Upload apps={apps.data?.apps ?? []} done={async (c) => { setPanel(""); await say(`Certificate ${c.name} uploaded.`); }} />}
      {panel === "request" && <Request apps={apps.data?.apps ?? []} done={async (c) => { setPanel(""); setPendingId(c.id); await say(`Certificate ${c.name} requested.`); }} />}
      {pendingId && <Progress id={pendingId} onDone={() => qc.invalidateQueries()} close={() => setPendingId("")} />}
      {confirm && (
        <div className={styles.confirm} role="alertdialog" aria-labelledby="cert-confirm-title">
          <h3 id="cert-confirm-title">{confirm.what === "delete" ? "Delete" : "Revoke"} certificate {confirm.c.name}?</h3>
          <p>
            {confirm.what === "delete"
              ? `Nodes stop serving it with their next snapshot${confirm.c.appIds.length ? `; ${plural(confirm.c.appIds.length, "app")} lose it` : ""}.`
              : "The CA revokes the current certificate; Strata then issues a new one."}
          </p>
          <div className={styles.row}>
            <button type="button" className={styles.danger} onClick={act}>{confirm.what === "delete" ? "Delete" : "Revoke"} {confirm.c.name}</button>
            <button type="button" onClick={() => setConfirm(null)}>Cancel</button>
          </div>
        </div>
      )}
      {attach && <Attach cert={attach} apps={apps.data?.apps ?? []} close={() => setAttach(null)} say={say} />}
      {certs.error ? (
        <ErrorPanel error={certs.error} what="list certificates" />
      ) : certs.isPending ? (
        <Loading what="certificates" />
      ) : (
        <Table
          caption={plural(certs.data.certificates.length, "certificate") + (certs.data.nextPageToken ? " (the first 1000)" : "")}
          columns={columns}
          rows={certs.data.certificates}
          rowKey={(c) => c.id}
          initialSort={{ key: "expiry", dir: "asc" }}
          empty="No certificates yet: upload one or request one with ACME."
        />
      )}
      <Accounts />
    </>
  );
}

type AppRef = { id: string; name: string; deleted: boolean };

function AppSelect({ apps, value, onChange, p, optional }: { apps: AppRef[]; value: string; onChange: (v: string) => void; p: object; optional?: boolean }) {
  return (
    <select {...p} value={value} onChange={(e) => onChange(e.target.value)}>
      <option value="">{optional ? "none" : "choose an app"}</option>
      {apps.filter((a) => !a.deleted).map((a) => <option key={a.id} value={a.id}>{a.name}</option>)}
    </select>
  );
}

function PemField({ label, value, set, error }: { label: string; value: string; set: (s: string) => void; error?: string }) {
  return (
    <>
      <Field label={label} error={error} wide>
        {(p) => <textarea {...p} value={value} onChange={(e) => set(e.target.value)} placeholder="-----BEGIN ..." spellCheck={false} />}
      </Field>
      <Field label={`${label}: file`}>
        {(p) => <input {...p} type="file" accept=".pem,.crt,.key,text/plain" onChange={async (e) => { const f = e.target.files?.[0]; if (f) set(await f.text()); }} />}
      </Field>
    </>
  );
}

function Upload({ apps, done }: { apps: AppRef[]; done: (c: Certificate) => Promise<void> }) {
  const [name, setName] = useState("");
  const [chain, setChain] = useState("");
  const [key, setKey] = useState("");
  const [app, setApp] = useState("");
  const [systemRoots, setSystemRoots] = useState(false);
  const [force, setForce] = useState(false);
  const [errors, setErrors] = useState<Errors>({});
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const errs: Errors = {};
    if (!name.trim()) errs.name = "required";
    if (!chain.includes("-----BEGIN CERTIFICATE-----")) errs.chain_pem = "a PEM certificate chain, leaf first";
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) errs.key_pem = "a PEM private key";
    setErrors(errs);
    if (Object.keys(errs).length) return;
    try {
      const r = await client(CertService).uploadCertificate({ name: name.trim(), chainPem: chain, keyPem: key, systemRoots, appIds: app ? [app] : [], force });
      // The key was sent once; forget it.
      setKey("");
      await done(r.certificate!);
    } catch (err) {
      setErrors(violationsOf(err, ["name", "chain_pem", "key_pem", "app_ids"]));
    }
  };
  return (
    <form className={styles.form} onSubmit={submit} aria-label="Upload certificate" noValidate>
      <p className={styles.legend}>The private key is sent once over the API, sealed before it is stored, and never shown again.</p>
      <Field label="Certificate name" error={errors.name}>
        {(p) => <input {...p} value={name} onChange={(e) => setName(e.target.value)} placeholder="shop-2026" />}
      </Field>
      <Field label="Attach to app" error={errors.app_ids}>
        {(p) => <AppSelect apps={apps} value={app} onChange={setApp} p={p} optional />}
      </Field>
      <PemField label="Certificate chain (PEM)" value={chain} set={setChain} error={errors.chain_pem} />
      <PemField label="Private key (PEM)" value={key} set={setKey} error={errors.key_pem} />
      <label className={styles.check}>
        <input type="checkbox" checked={systemRoots} onChange={(e) => setSystemRoots(e.target.checked)} />
        <span>Chain ends at a system root</span>
      </label>
      <label className={styles.check}>
        <input type="checkbox" checked={force} onChange={(e) => setForce(e.target.checked)} />
        <span>Attach even if it names none of the app's domains</span>
      </label>
      {errors.form && <p className={styles.formError} role="alert">{errors.form}</p>}
      <div className={styles.buttons}>
        <button type="submit" className={styles.primary}>Upload</button>
      </div>
    </form>
  );
}

function Request({ apps, done }: { apps: AppRef[]; done: (c: Certificate) => Promise<void> }) {
  const accounts = useQuery(CertService.method.listAcmeAccounts, {});
  const [app, setApp] = useState("");
  const [domains, setDomains] = useState("");
  const [name, setName] = useState("");
  const [directory, setDirectory] = useState("");
  const [challenge, setChallenge] = useState<ChallengeType>(ChallengeType.UNSPECIFIED);
  const [force, setForce] = useState(false);
  const [errors, setErrors] = useState<Errors>({});
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const ds = domains.split(/[\s,]+/).filter(Boolean);
    const errs: Errors = {};
    if (!app) errs.app_id = "choose the app the certificate is for";
    if (!ds.length) errs.domains = "at least one domain";
    setErrors(errs);
    if (Object.keys(errs).length) return;
    try {
      const r = await client(CertService).requestCertificate({ appId: app, domains: ds, name: name.trim(), acmeDirectory: directory.trim(), challenge, force });
      await done(r.certificate!);
    } catch (err) {
      setErrors(violationsOf(err, ["app_id", "domains", "name", "acme_directory", "challenge"]));
    }
  };
  return (
    <form className={styles.form} onSubmit={submit} aria-label="Request certificate" noValidate>
      <Field label="App" error={errors.app_id}>
        {(p) => <AppSelect apps={apps} value={app} onChange={setApp} p={p} />}
      </Field>
      <Field label="Domains" error={errors.domains} wide>
        {(p) => <input {...p} value={domains} onChange={(e) => setDomains(e.target.value)} placeholder="shop.example.com, *.shop.example.com" />}
      </Field>
      <Field label="Certificate name (optional)" error={errors.name}>
        {(p) => <input {...p} value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <Field label="ACME account (directory)" error={errors.acme_directory} wide>
        {(p) => (
          <>
            <input {...p} list="acme-directories" value={directory} onChange={(e) => setDirectory(e.target.value)} placeholder="empty: the service's default directory" />
            <datalist id="acme-directories">
              {(accounts.data?.accounts ?? []).map((a) => <option key={a.directory} value={a.directory} />)}
            </datalist>
          </>
        )}
      </Field>
      <Field label="Challenge" error={errors.challenge}>
        {(p) => (
          <select {...p} value={challenge} onChange={(e) => setChallenge(Number(e.target.value) as ChallengeType)}>
            <option value={ChallengeType.UNSPECIFIED}>automatic (HTTP-01; DNS-01 for wildcards)</option>
            <option value={ChallengeType.HTTP_01}>HTTP-01</option>
            <option value={ChallengeType.DNS_01}>DNS-01 (domains in a Strata zone)</option>
          </select>
        )}
      </Field>
      <label className={styles.check}>
        <input type="checkbox" checked={force} onChange={(e) => setForce(e.target.checked)} />
        <span>Even if the domains cover none of the app's</span>
      </label>
      {errors.form && <p className={styles.formError} role="alert">{errors.form}</p>}
      <div className={styles.buttons}>
        <button type="submit" className={styles.primary}>Request</button>
      </div>
    </form>
  );
}

// Progress polls a requested certificate until its issuance succeeds or fails.
function Progress({ id, onDone, close }: { id: string; onDone: () => void; close: () => void }) {
  const q = useQuery(CertService.method.getCertificate, { certificate: id }, {
    refetchInterval: (query) => (query.state.data?.certificate?.state === CertificateState.PENDING ? 2000 : false),
  });
  const c = q.data?.certificate;
  const state = c?.state;
  useEffect(() => {
    if (state !== undefined && state !== CertificateState.PENDING) onDone();
    // onDone is the page's refresh; run it once per state change.
  }, [state]);
  return (
    <div className={styles.confirm} role="status" aria-live="polite">
      <h3>Issuing {c?.name ?? id}</h3>
      {q.error ? (
        <p className={styles.error}>{errorMessage(q.error)}</p>
      ) : !c ? (
        <p>Waiting for the service…</p>
      ) : c.state === CertificateState.PENDING ? (
        <p>
          Pending: the ACME order is in progress ({c.challenge === ChallengeType.DNS_01 ? "DNS-01" : "HTTP-01"}).
          {c.lastError && <> Last attempt failed: {c.lastError}; next attempt {formatTime(c.nextAttemptAt)}.</>}
        </p>
      ) : c.state === CertificateState.ACTIVE ? (
        <p>Issued: {c.domains.join(", ")}, valid until {formatTime(c.notAfter)}.</p>
      ) : (
        <p className={styles.error}>Failed: {c.lastError} (next attempt {formatTime(c.nextAttemptAt)}).</p>
      )}
      <button type="button" onClick={close}>Close</button>
    </div>
  );
}

function Attach({ cert, apps, close, say }: { cert: Certificate; apps: AppRef[]; close: () => void; say: (s: string) => Promise<void> }) {
  const [app, setApp] = useState("");
  const [force, setForce] = useState(false);
  const [errors, setErrors] = useState<Errors>({});
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    if (!app) return setErrors({ app_id: "choose an app" });
    try {
      await client(CertService).attachCertificate({ certificate: cert.id, appId: app, force });
      close();
      await say(`Certificate ${cert.name} attached.`);
    } catch (err) {
      setErrors(violationsOf(err, ["app_id", "certificate"]));
    }
  };
  return (
    <form className={styles.form} onSubmit={submit} aria-label={`Attach ${cert.name}`} noValidate>
      <Field label={`Attach ${cert.name} to app`} error={errors.app_id}>
        {(p) => <AppSelect apps={apps} value={app} onChange={setApp} p={p} />}
      </Field>
      <label className={styles.check}>
        <input type="checkbox" checked={force} onChange={(e) => setForce(e.target.checked)} />
        <span>Even if it names none of the app's domains</span>
      </label>
      {(errors.form || errors.certificate) && <p className={styles.formError} role="alert">{errors.form ?? errors.certificate}</p>}
      <div className={styles.buttons}>
        <button type="submit" className={styles.primary}>Attach</button>
        <button type="button" onClick={close}>Cancel</button>
      </div>
    </form>
  );
}

function Accounts() {
  const qc = useQueryClient();
  const accounts = useQuery(CertService.method.listAcmeAccounts, {});
  const [directory, setDirectory] = useState("");
  const [kid, setKid] = useState("");
  const [hmac, setHmac] = useState("");
  const [errors, setErrors] = useState<Errors>({});
  const [saved, setSaved] = useState("");
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setSaved("");
    if (!/^https?:\/\//.test(directory.trim())) return setErrors({ directory: "an ACME directory URL (https://...)" });
    setErrors({});
    try {
      await client(CertService).setAcmeAccount({ directory: directory.trim(), eabKeyId: kid.trim(), eabHmacKey: hmac.trim() });
      setHmac("");
      setSaved(`Account settings for ${directory.trim()} saved.`);
      await qc.invalidateQueries();
    } catch (err) {
      setErrors(violationsOf(err, ["directory", "eab_key_id", "eab_hmac_key"]));
    }
  };
  const columns: Column<AcmeAccount>[] = [
    { key: "directory", header: "Directory", sortValue: (a) => a.directory, cell: (a) => <span className={styles.mono}>{a.directory}</span> },
    { key: "eab", header: "External account binding", cell: (a) => (a.eabKeyId ? <>{a.eabKeyId}{a.eabHmacKeySet && " (HMAC key set)"}</> : <span className={styles.muted}>none</span>) },
    { key: "account", header: "Registered account", cell: (a) => (a.accountUrl ? <span className={styles.mono}>{a.accountUrl}</span> : <span className={styles.muted}>not yet</span>) },
    { key: "updated", header: "Updated", cell: (a) => formatTime(a.updatedAt) },
  ];
  return (
    <Section title="ACME accounts">
      {accounts.error ? (
        <ErrorPanel error={accounts.error} what="list ACME accounts" />
      ) : accounts.isPending ? (
        <Loading what="ACME accounts" />
      ) : (
        <Table caption="ACME accounts" hideCaption columns={columns} rows={accounts.data.accounts} rowKey={(a) => a.directory} empty="No ACME account settings: requests use the service's default directory." />
      )}
      <form className={styles.form} onSubmit={submit} aria-label="Set ACME account" noValidate>
        <Field label="Directory URL" error={errors.directory} wide>
          {(p) => <input {...p} value={directory} onChange={(e) => setDirectory(e.target.value)} placeholder="https://acme.zerossl.com/v2/DV90" />}
        </Field>
        <Field label="EAB key id" error={errors.eab_key_id}>
          {(p) => <input {...p} value={kid} onChange={(e) => setKid(e.target.value)} />}
        </Field>
        <Field label="EAB HMAC key" error={errors.eab_hmac_key}>
          {(p) => <input {...p} type="password" autoComplete="off" value={hmac} onChange={(e) => setHmac(e.target.value)} />}
        </Field>
        {errors.form && <p className={styles.formError} role="alert">{errors.form}</p>}
        {saved && <p className={styles.notice} role="status">{saved}</p>}
        <div className={styles.buttons}>
          <button type="submit">Save account settings</button>
        </div>
      </form>
    </Section>
  );
}
