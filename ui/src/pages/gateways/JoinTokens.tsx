import { useState } from "react";
import { useQuery } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { NodeService, client, errorMessage } from "../../api";
import type { Cluster } from "../../gen/strata/config/v1/resources_pb";
import type { JoinToken } from "../../gen/strata/config/v1/node_pb";
import { Table, type Column } from "../../components/Table";
import { ErrorPanel } from "../../components/ErrorPanel";
import { Badge, Loading, Section } from "../../components/Page";
import type { useActionDialog } from "../../components/ActionDialog";
import { formatTime, plural } from "../../lib/format";
import { topologyRefreshMs } from "./useLiveNodes";
import styles from "./GatewaysPage.module.css";

// tokenState: revoked, expired or active.
export function tokenState(t: Pick<JoinToken, "revoked" | "expiresAt">, now = Date.now()): "revoked" | "expired" | "active" {
  if (t.revoked) return "revoked";
  if (t.expiresAt && timestampMs(t.expiresAt) <= now) return "expired";
  return "active";
}

// JoinTokens creates join tokens (the secret shown once, with a copy
// button), lists them and revokes them.
export function JoinTokens({ clusters, clusterName, show }: { clusters: Cluster[]; clusterName: (id: string) => string; show: ReturnType<typeof useActionDialog>[1] }) {
  const tokens = useQuery(NodeService.method.listJoinTokens, {}, { refetchInterval: topologyRefreshMs });
  const qc = useQueryClient();
  const [cluster, setCluster] = useState("");
  const [hours, setHours] = useState("24");
  const [autoApprove, setAutoApprove] = useState(false);
  const [staging, setStaging] = useState(false);
  const [description, setDescription] = useState("");
  const [error, setError] = useState("");
  const [secret, setSecret] = useState<{ token: string; cluster: string } | null>(null);
  const [copied, setCopied] = useState(false);

  const create = async () => {
    setError("");
    const h = Number(hours);
    if (!Number.isFinite(h) || h <= 0 || h > 720) {
      setError("Lifetime: hours from 1 to 720 (30 days)");
      return;
    }
    try {
      const c = cluster || clusters[0]?.id || "";
      const res = await client(NodeService).createJoinToken({ cluster: c, ttlSeconds: Math.round(h * 3600), autoApprove, staging, description: description.trim() });
      setSecret({ token: res.token, cluster: clusterName(res.joinToken?.clusterId ?? c) });
      setCopied(false);
      setDescription("");
      await qc.invalidateQueries();
    } catch (x) {
      setError(errorMessage(x));
    }
  };

  const columns: Column<JoinToken>[] = [
    { key: "id", header: "ID", cell: (t) => <span className={styles.mono}>{t.id}</span> },
    { key: "cluster", header: "Cluster", sortValue: (t) => clusterName(t.clusterId), cell: (t) => clusterName(t.clusterId) },
    {
      key: "state",
      header: "State",
      sortValue: (t) => tokenState(t),
      cell: (t) => {
        const s = tokenState(t);
        return <Badge tone={s === "active" ? "ok" : "neutral"}>{s}</Badge>;
      },
    },
    { key: "expires", header: "Expires", sortValue: (t) => t.expiresAt?.seconds ?? 0n, cell: (t) => formatTime(t.expiresAt) },
    { key: "approve", header: "Approval", cell: (t) => (t.autoApprove ? "automatic" : "by an operator") },
    { key: "track", header: "Track", cell: (t) => (t.staging ? "staging" : "stable") },
    { key: "description", header: "Description", cell: (t) => t.description || <span className={styles.muted}>—</span> },
    {
      key: "actions",
      header: "Actions",
      cell: (t) =>
        t.revoked ? null : (
          <div className={styles.actions}>
            <button
              type="button"
              className={styles.dangerButton}
              aria-label={`Revoke join token ${t.id}`}
              onClick={() =>
                show({
                  title: `Revoke join token ${t.id}?`,
                  submit: "Revoke token",
                  danger: true,
                  children: <p>No node can join with it any more; nodes that joined with it keep running.</p>,
                  run: () => client(NodeService).revokeJoinToken({ tokenId: t.id }),
                })
              }
            >
              Revoke
            </button>
          </div>
        ),
    },
  ];

  return (
    <Section title="Join tokens">
      <form
        className={styles.form}
        onSubmit={(e) => {
          e.preventDefault();
          void create();
        }}
      >
        <label className={styles.field}>
          <span>Cluster</span>
          <select value={cluster || clusters[0]?.id || ""} onChange={(e) => setCluster(e.target.value)}>
            {clusters.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        </label>
        <label className={styles.field}>
          <span>Lifetime (hours)</span>
          <input type="number" min={1} max={720} value={hours} onChange={(e) => setHours(e.target.value)} />
        </label>
        <label className={styles.field}>
          <span>Description</span>
          <input value={description} onChange={(e) => setDescription(e.target.value)} maxLength={256} placeholder="rack 4" />
        </label>
        <label className={styles.check}>
          <input type="checkbox" checked={autoApprove} onChange={(e) => setAutoApprove(e.target.checked)} />
          <span>Approve joining nodes at once</span>
        </label>
        <label className={styles.check}>
          <input type="checkbox" checked={staging} onChange={(e) => setStaging(e.target.checked)} />
          <span>Staging track</span>
        </label>
        <button type="submit" disabled={clusters.length === 0}>
          Create join token
        </button>
        {error && (
          <span role="alert" className={styles.error}>
            {error}
          </span>
        )}
      </form>
      {secret && (
        <div className={styles.secret} role="status">
          <p>
            <strong>Join token for cluster {secret.cluster}.</strong> It is shown once: copy it now.
          </p>
          <div className={styles.secretRow}>
            <code data-testid="join-token">{secret.token}</code>
            <button
              type="button"
              onClick={async () => {
                try {
                  await navigator.clipboard.writeText(secret.token);
                  setCopied(true);
                } catch {
                  setCopied(false);
                }
              }}
            >
              {copied ? "Copied" : "Copy"}
            </button>
            <button type="button" onClick={() => setSecret(null)}>
              Done
            </button>
          </div>
          <p className={styles.mono}>strata node --api {window.location.origin} --join-token TOKEN --name NODE --data DIR</p>
        </div>
      )}
      {tokens.error ? (
        <ErrorPanel error={tokens.error} what="list join tokens" />
      ) : tokens.isPending ? (
        <Loading what="join tokens" />
      ) : (
        <Table
          caption={plural(tokens.data.joinTokens.length, "join token")}
          hideCaption
          columns={columns}
          rows={[...tokens.data.joinTokens].reverse()}
          rowKey={(t) => t.id}
          empty="No join tokens."
        />
      )}
    </Section>
  );
}
