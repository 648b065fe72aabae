import { useState } from "react";
import { useQuery } from "@connectrpc/connect-query";
import { create } from "@bufbuild/protobuf";
import { client, ConfigService, fieldViolations } from "../../api";
import type { App } from "../../gen/strata/config/v1/resources_pb";
import { ForwardProxyAppSchema, HstsSchema, ProxyCredentialSchema, StreamAppSchema, StreamListenerSchema, StreamProtocol, StreamTlsMode } from "../../gen/strata/config/v1/resources_pb";
import { AreaField, Check, Field, NumberField, SelectField, TextField, WriteError, pairsText, parsePairs, parsePorts, splitList } from "./forms";
import styles from "./edit.module.css";

type Role = "http" | "stream" | "forwardProxy";

// Settings is the form's state: text as typed, parsed on submit.
type Settings = {
  name: string;
  domains: string;
  httpPorts: string;
  httpsPorts: string;
  partitions: string[];
  labels: string;
  httpsRedirect: boolean;
  hsts: boolean;
  hstsMaxAge: number;
  hstsSub: boolean;
  hstsPreload: boolean;
  role: Role;
  // stream
  listeners: string;
  streamUpstream: string;
  tlsMode: StreamTlsMode;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  // forward proxy
  socks5Ports: string;
  proxyHttpPorts: string;
  credentials: string;
  allowDomains: string;
};

function fromApp(app?: App): Settings {
  const s = app?.role.case === "stream" ? app.role.value : undefined;
  const f = app?.role.case === "forwardProxy" ? app.role.value : undefined;
  return {
    name: app?.name ?? "",
    domains: (app?.domains ?? []).join("\n"),
    httpPorts: (app?.httpPorts ?? []).join(", "),
    httpsPorts: (app?.httpsPorts ?? []).join(", "),
    partitions: app?.partitionIds ?? [],
    labels: pairsText(app?.labels ?? {}),
    httpsRedirect: app?.httpsRedirect ?? false,
    hsts: !!app?.hsts,
    hstsMaxAge: app?.hsts?.maxAgeSeconds ?? 31536000,
    hstsSub: app?.hsts?.includeSubdomains ?? false,
    hstsPreload: app?.hsts?.preload ?? false,
    role: (app?.role.case ?? "http") as Role,
    listeners: (s?.listeners ?? []).map((l) => `${l.port}/${l.protocol === StreamProtocol.UDP ? "udp" : "tcp"}`).join(", "),
    streamUpstream: s?.upstream ?? "",
    tlsMode: s?.tlsMode ?? StreamTlsMode.UNSPECIFIED,
    connectTimeoutMs: s?.connectTimeoutMs ?? f?.connectTimeoutMs ?? 0,
    idleTimeoutMs: s?.idleTimeoutMs ?? f?.idleTimeoutMs ?? 0,
    socks5Ports: (f?.socks5Ports ?? []).join(", "),
    proxyHttpPorts: (f?.httpPorts ?? []).join(", "),
    credentials: (f?.credentials ?? []).map((c) => c.username).join("\n"),
    allowDomains: (f?.egress?.allowDomains ?? []).join("\n"),
  };
}

// request builds the fields CreateApp and UpdateApp share.
function request(s: Settings, app?: App) {
  const base = {
    name: s.name.trim(),
    domains: splitList(s.domains),
    httpPorts: s.role === "http" ? parsePorts(s.httpPorts) : [],
    httpsPorts: s.role === "http" ? parsePorts(s.httpsPorts) : [],
    partitions: s.partitions,
    labels: parsePairs(s.labels),
    httpsRedirect: s.httpsRedirect,
    hsts: s.hsts ? create(HstsSchema, { maxAgeSeconds: s.hstsMaxAge, includeSubdomains: s.hstsSub, preload: s.hstsPreload }) : undefined,
  };
  if (s.role === "stream") {
    const old = app?.role.case === "stream" ? app.role.value : create(StreamAppSchema);
    const listeners = splitList(s.listeners).map((l) => {
      const [port, proto] = l.split("/");
      return create(StreamListenerSchema, { port: Number(port) || 0, protocol: proto?.toLowerCase() === "udp" ? StreamProtocol.UDP : StreamProtocol.TCP });
    });
    const v = { ...old, listeners, upstream: s.streamUpstream.trim(), tlsMode: s.tlsMode, connectTimeoutMs: s.connectTimeoutMs, idleTimeoutMs: s.idleTimeoutMs };
    return { ...base, role: { case: "stream" as const, value: v } };
  }
  if (s.role === "forwardProxy") {
    const old = app?.role.case === "forwardProxy" ? app.role.value : create(ForwardProxyAppSchema);
    // "user" keeps a user's password; "user:password" sets it.
    const credentials = s.credentials
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean)
      .map((l) => {
        const i = l.indexOf(":");
        const username = i < 0 ? l : l.slice(0, i);
        const kept = old.credentials.find((c) => c.username === username);
        return i < 0 && kept ? kept : create(ProxyCredentialSchema, { ...kept, username, password: i < 0 ? "" : l.slice(i + 1), passwordHash: "" });
      });
    const egress = old.egress ? { ...old.egress, allowDomains: splitList(s.allowDomains) } : undefined;
    const v = { ...old, socks5Ports: parsePorts(s.socks5Ports), httpPorts: parsePorts(s.proxyHttpPorts), credentials, egress, connectTimeoutMs: s.connectTimeoutMs, idleTimeoutMs: s.idleTimeoutMs };
    return { ...base, role: { case: "forwardProxy" as const, value: v } };
  }
  return { ...base, role: { case: undefined } };
}

// AppSettingsForm creates an app (no app) or edits one's settings (with
// expected_version: a conflict asks for a reload).
export function AppSettingsForm({ app, version, onDone, onCancel, onReload }: { app?: App; version?: bigint; onDone: (id: string) => void; onCancel: () => void; onReload?: () => void }) {
  const [s, setS] = useState(() => fromApp(app));
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const partitions = useQuery(ConfigService.method.listPartitions, {});
  const set = <K extends keyof Settings>(k: K, v: Settings[K]) => setS((o) => ({ ...o, [k]: v }));
  const vs = fieldViolations(error);
  const editing = !!app;

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const c = client(ConfigService);
      if (app) {
        await c.updateApp({ appId: app.id, expectedVersion: version, ...request(s, app) });
        onDone(app.id);
      } else {
        const r = await c.createApp(request(s));
        onDone(r.app!.id);
      }
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className={styles.form} onSubmit={submit} aria-label={editing ? "Edit application settings" : "New application"}>
      <div className={styles.grid}>
        <TextField label="Name" value={s.name} onChange={(v) => set("name", v)} field="name" vs={vs} placeholder="shop" />
        <SelectField<Role>
          label="Role"
          value={s.role}
          disabled={editing}
          options={[
            ["http", "HTTP(S)"],
            ["stream", "Stream (TCP/UDP)"],
            ["forwardProxy", "Forward proxy"],
          ]}
          onChange={(v) => set("role", v)}
        />
        <AreaField label="Domains (one per line)" value={s.domains} onChange={(v) => set("domains", v)} field="domains" vs={vs} rows={2} />
        {s.role === "http" && (
          <>
            <TextField label="HTTP ports" value={s.httpPorts} onChange={(v) => set("httpPorts", v)} field="http_ports" vs={vs} placeholder="80" hint="Both empty: port 80." />
            <TextField label="HTTPS ports" value={s.httpsPorts} onChange={(v) => set("httpsPorts", v)} field="https_ports" vs={vs} placeholder="443" />
          </>
        )}
        <Field label="Partitions" field="partitions" vs={vs} hint="None checked: the default partition.">
          {(id, d) => (
            <div id={id} role="group" aria-describedby={d} className={styles.row}>
              {(partitions.data?.partitions ?? []).map((p) => (
                <Check key={p.id} label={p.name} checked={s.partitions.includes(p.id) || s.partitions.includes(p.name)} onChange={(on) => set("partitions", on ? [...s.partitions, p.id] : s.partitions.filter((x) => x !== p.id && x !== p.name))} />
              ))}
            </div>
          )}
        </Field>
        <AreaField label="Labels (key=value, one per line)" value={s.labels} onChange={(v) => set("labels", v)} field="labels" vs={vs} rows={2} />
      </div>
      {s.role === "http" && (
        <div className={styles.row}>
          <Check label="Redirect HTTP to HTTPS" checked={s.httpsRedirect} onChange={(v) => set("httpsRedirect", v)} />
          <Check label="HSTS" checked={s.hsts} onChange={(v) => set("hsts", v)} />
          {s.hsts && (
            <>
              <NumberField label="HSTS max-age (s)" value={s.hstsMaxAge} onChange={(v) => set("hstsMaxAge", v)} field="hsts" vs={vs} />
              <Check label="Include subdomains" checked={s.hstsSub} onChange={(v) => set("hstsSub", v)} />
              <Check label="Preload" checked={s.hstsPreload} onChange={(v) => set("hstsPreload", v)} />
            </>
          )}
        </div>
      )}
      {s.role === "stream" && (
        <div className={styles.grid}>
          <TextField label="Listeners (port/tcp or port/udp)" value={s.listeners} onChange={(v) => set("listeners", v)} field="stream.listeners" vs={vs} placeholder="5432/tcp" />
          <TextField label="Default upstream" value={s.streamUpstream} onChange={(v) => set("streamUpstream", v)} field="stream.upstream" vs={vs} />
          <SelectField<StreamTlsMode>
            label="TLS"
            value={s.tlsMode}
            options={[
              [StreamTlsMode.UNSPECIFIED, "bytes as they come"],
              [StreamTlsMode.TERMINATE, "terminate"],
              [StreamTlsMode.PASSTHROUGH, "SNI passthrough"],
            ]}
            onChange={(v) => set("tlsMode", v)}
          />
          <NumberField label="Connect timeout (ms)" value={s.connectTimeoutMs} onChange={(v) => set("connectTimeoutMs", v)} field="stream.connect_timeout_ms" vs={vs} />
          <NumberField label="Idle timeout (ms)" value={s.idleTimeoutMs} onChange={(v) => set("idleTimeoutMs", v)} field="stream.idle_timeout_ms" vs={vs} />
        </div>
      )}
      {s.role === "forwardProxy" && (
        <div className={styles.grid}>
          <TextField label="SOCKS5 ports" value={s.socks5Ports} onChange={(v) => set("socks5Ports", v)} field="forward_proxy.socks5_ports" vs={vs} placeholder="1080" />
          <TextField label="HTTP proxy ports" value={s.proxyHttpPorts} onChange={(v) => set("proxyHttpPorts", v)} field="forward_proxy.http_ports" vs={vs} placeholder="3128" />
          <AreaField label="Credentials (user:password; a user alone keeps its password)" value={s.credentials} onChange={(v) => set("credentials", v)} field="forward_proxy.credentials" vs={vs} rows={2} />
          <AreaField label="Allowed destination domains" value={s.allowDomains} onChange={(v) => set("allowDomains", v)} field="forward_proxy.egress" vs={vs} rows={2} />
          <NumberField label="Connect timeout (ms)" value={s.connectTimeoutMs} onChange={(v) => set("connectTimeoutMs", v)} field="forward_proxy.connect_timeout_ms" vs={vs} />
          <NumberField label="Idle timeout (ms)" value={s.idleTimeoutMs} onChange={(v) => set("idleTimeoutMs", v)} field="forward_proxy.idle_timeout_ms" vs={vs} />
        </div>
      )}
      <WriteError error={error} what={editing ? "save the settings" : "create the application"} onReload={onReload} shown={["name", "domains", "http_ports", "https_ports", "partitions", "labels", "hsts", "stream", "forward_proxy"]} />
      <div className={styles.buttons}>
        <button type="submit" className={styles.primary} disabled={busy}>
          {editing ? "Save settings" : "Create application"}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
