import { useState } from "react";
import { create, clone } from "@bufbuild/protobuf";
import { client, ConfigService, fieldViolations } from "../../api";
import type { Upstream } from "../../gen/strata/config/v1/resources_pb";
import { BalancePolicy, HealthCheckSchema, ServerSchema, TimeoutsSchema, UpstreamSchema, UpstreamTLSSchema } from "../../gen/strata/config/v1/resources_pb";
import { Check, NumberField, SelectField, TextField, WriteError, splitList } from "./forms";
import styles from "./edit.module.css";

export function newUpstream(): Upstream {
  return create(UpstreamSchema, { servers: [create(ServerSchema, { weight: 1 })], policy: BalancePolicy.ROUND_ROBIN });
}

// trimmed leaves timeouts, TLS and health checks unset when the form has
// only their defaults, as the CLI does.
function trimmed(u: Upstream): Upstream {
  const c = clone(UpstreamSchema, u);
  const t = c.timeouts;
  if (t && !t.connectMs && !t.readMs && !t.writeMs) c.timeouts = undefined;
  if (c.tls && !c.tls.enabled && !c.tls.sni && !c.tls.verify) c.tls = undefined;
  const h = c.healthCheck;
  if (h && !h.enabled && !h.path && !h.host && !h.intervalMs && !h.timeoutMs && !h.healthyThreshold && !h.unhealthyThreshold && !h.expectedStatuses.length && !h.maxFails && !h.failTimeoutMs) c.healthCheck = undefined;
  return c;
}

// UpstreamEditor creates (no id) or replaces an upstream of an app.
export function UpstreamEditor({ appId, version, initial, onDone, onCancel, onReload }: { appId: string; version: bigint; initial: Upstream; onDone: () => void; onCancel: () => void; onReload: () => void }) {
  const [u, setU] = useState(() => {
    const c = clone(UpstreamSchema, initial);
    c.timeouts ??= create(TimeoutsSchema);
    c.tls ??= create(UpstreamTLSSchema);
    c.healthCheck ??= create(HealthCheckSchema);
    return c;
  });
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const vs = fieldViolations(error);
  const isNew = !initial.id;
  const up = (f: (x: Upstream) => void) =>
    setU((o) => {
      const c = clone(UpstreamSchema, o);
      f(c);
      return c;
    });
  const t = u.timeouts!;
  const tls = u.tls!;
  const hc = u.healthCheck!;

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const c = client(ConfigService);
      const upstream = trimmed(u);
      if (isNew) await c.createUpstream({ appId, expectedVersion: version, upstream });
      else await c.updateUpstream({ appId, expectedVersion: version, upstream });
      onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className={styles.form} onSubmit={submit} aria-label={isNew ? "New upstream" : `Edit upstream ${initial.name}`}>
      <h3>{isNew ? "New upstream" : `Edit upstream ${initial.name}`}</h3>
      <div className={styles.grid}>
        <TextField label="Upstream name" value={u.name} onChange={(v) => up((x) => (x.name = v))} field="upstream.name" vs={vs} placeholder="web" />
        <SelectField<BalancePolicy>
          label="Balancing"
          value={u.policy}
          options={[
            [BalancePolicy.ROUND_ROBIN, "round robin"],
            [BalancePolicy.WEIGHTED, "weighted"],
            [BalancePolicy.LEAST_CONNECTIONS, "least connections"],
            [BalancePolicy.CONSISTENT_HASH, "consistent hash"],
          ]}
          onChange={(v) => up((x) => (x.policy = v))}
          field="upstream.policy"
          vs={vs}
        />
        {u.policy === BalancePolicy.CONSISTENT_HASH && (
          <TextField label="Hash key" value={u.hashKey} onChange={(v) => up((x) => (x.hashKey = v))} field="upstream.hash_key" vs={vs} placeholder="client_ip, uri, header:NAME" />
        )}
        <NumberField label="Retries" value={u.retries} onChange={(v) => up((x) => (x.retries = v))} field="upstream.retries" vs={vs} />
      </div>
      <div className={styles.sub}>
        <h4>Servers</h4>
        {u.servers.map((s, i) => (
          <div className={styles.row} key={i} role="group" aria-label={`Server ${i + 1}`}>
            <TextField label={`Server ${i + 1} address`} value={s.address} onChange={(v) => up((x) => (x.servers[i].address = v))} field={`upstream.servers[${i}]`} vs={vs} placeholder="10.0.0.1:8080" mono />
            <NumberField label="Weight" value={s.weight} onChange={(v) => up((x) => (x.servers[i].weight = v))} />
            <Check label="Backup" checked={s.backup} onChange={(v) => up((x) => (x.servers[i].backup = v))} />
            <button type="button" className={styles.danger} aria-label={`Remove server ${i + 1}`} onClick={() => up((x) => x.servers.splice(i, 1))}>
              Remove
            </button>
          </div>
        ))}
        <button type="button" onClick={() => up((x) => x.servers.push(create(ServerSchema, { weight: 1 })))}>
          Add server
        </button>
      </div>
      <div className={styles.sub}>
        <h4>Timeouts, TLS</h4>
        <div className={styles.row}>
          <NumberField label="Connect (ms)" value={t.connectMs} onChange={(v) => up((x) => (x.timeouts!.connectMs = v))} field="upstream.timeouts" vs={vs} />
          <NumberField label="Read (ms)" value={t.readMs} onChange={(v) => up((x) => (x.timeouts!.readMs = v))} />
          <NumberField label="Write (ms)" value={t.writeMs} onChange={(v) => up((x) => (x.timeouts!.writeMs = v))} />
          <Check label="TLS to servers" checked={tls.enabled} onChange={(v) => up((x) => (x.tls!.enabled = v))} />
          {tls.enabled && (
            <>
              <TextField label="SNI" value={tls.sni} onChange={(v) => up((x) => (x.tls!.sni = v))} field="upstream.tls" vs={vs} />
              <Check label="Verify certificate" checked={tls.verify} onChange={(v) => up((x) => (x.tls!.verify = v))} />
            </>
          )}
        </div>
      </div>
      <div className={styles.sub}>
        <h4>Health checks</h4>
        <div className={styles.row}>
          <Check label="Active HTTP checks" checked={hc.enabled} onChange={(v) => up((x) => (x.healthCheck!.enabled = v))} />
          {hc.enabled && (
            <>
              <TextField label="Path" value={hc.path} onChange={(v) => up((x) => (x.healthCheck!.path = v))} field="upstream.health_check" vs={vs} placeholder="/healthz" />
              <TextField label="Host header" value={hc.host} onChange={(v) => up((x) => (x.healthCheck!.host = v))} />
              <NumberField label="Interval (ms)" value={hc.intervalMs} onChange={(v) => up((x) => (x.healthCheck!.intervalMs = v))} />
              <NumberField label="Timeout (ms)" value={hc.timeoutMs} onChange={(v) => up((x) => (x.healthCheck!.timeoutMs = v))} />
              <NumberField label="Healthy after" value={hc.healthyThreshold} onChange={(v) => up((x) => (x.healthCheck!.healthyThreshold = v))} />
              <NumberField label="Unhealthy after" value={hc.unhealthyThreshold} onChange={(v) => up((x) => (x.healthCheck!.unhealthyThreshold = v))} />
              <TextField label="Healthy statuses" value={hc.expectedStatuses.join(", ")} onChange={(v) => up((x) => (x.healthCheck!.expectedStatuses = splitList(v).map(Number)))} placeholder="200-399" />
            </>
          )}
          <NumberField label="Passive: out after failures" value={hc.maxFails} onChange={(v) => up((x) => (x.healthCheck!.maxFails = v))} />
          <NumberField label="Out for (ms)" value={hc.failTimeoutMs} onChange={(v) => up((x) => (x.healthCheck!.failTimeoutMs = v))} />
        </div>
      </div>
      <WriteError error={error} what={isNew ? "create the upstream" : "save the upstream"} onReload={onReload} shown={["upstream.name", "upstream.policy", "upstream.hash_key", "upstream.retries", "upstream.servers", "upstream.timeouts", "upstream.tls", "upstream.health_check"]} />
      <div className={styles.buttons}>
        <button type="submit" className={styles.primary} disabled={busy}>
          {isNew ? "Create upstream" : "Save upstream"}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
