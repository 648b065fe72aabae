import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { NodeAck } from "../../gen/strata/purge/v1/purge_pb";
import type { NodeInfo } from "../../gen/strata/config/v1/config_pb";
import { Table, type Column } from "../../components/Table";
import { Badge } from "../../components/Page";
import styles from "./CachePage.module.css";

export function durationText(d: Duration | undefined): string {
  if (!d) return "";
  const ms = Number(d.seconds) * 1000 + d.nanos / 1e6;
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

export function bytesText(n: bigint | number): string {
  const v = Number(n);
  if (v < 1024) return `${v} B`;
  if (v < 1024 * 1024) return `${(v / 1024).toFixed(1)} KiB`;
  if (v < 1024 ** 3) return `${(v / 1024 / 1024).toFixed(1)} MiB`;
  return `${(v / 1024 ** 3).toFixed(2)} GiB`;
}

// ProgressRow is one node's line: acknowledged (with an error or not), or
// still waited for.
export type ProgressRow = { nodeId: string; name: string; ack?: NodeAck };

// progressRows lists the nodes that acknowledged, then the online nodes of
// the command's partitions that have not yet (the ones it waits for).
export function progressRows(acks: NodeAck[], nodes: NodeInfo[], partitionIds: string[], done: boolean): ProgressRow[] {
  const name = new Map(nodes.map((n) => [n.node?.id ?? "", n.node?.name ?? ""]));
  const rows: ProgressRow[] = acks.map((a) => ({ nodeId: a.nodeId, name: name.get(a.nodeId) || a.nodeId, ack: a }));
  if (!done) {
    const acked = new Set(acks.map((a) => a.nodeId));
    for (const n of nodes) {
      const id = n.node?.id ?? "";
      if (!acked.has(id) && n.online && partitionIds.includes(n.partitionId)) rows.push({ nodeId: id, name: n.node?.name ?? id });
    }
  }
  return rows;
}

// ProgressView is a purge's or push's progress: nodes done out of the
// expected ones, a bar, and one row per node.
export function ProgressView({
  label,
  total,
  done,
  createdAt,
  timeToLastAck,
  rows,
  extra,
}: {
  label: string;
  total: number;
  done: number;
  createdAt: Timestamp | undefined;
  timeToLastAck: Duration | undefined;
  rows: ProgressRow[];
  extra?: Column<ProgressRow>[];
}) {
  const complete = timeToLastAck !== undefined;
  const pct = total === 0 ? 100 : Math.round((100 * done) / total);
  const created = createdAt ? timestampMs(createdAt) : 0;
  const columns: Column<ProgressRow>[] = [
    { key: "node", header: "Node", sortValue: (r) => r.name, cell: (r) => <strong>{r.name}</strong> },
    {
      key: "state",
      header: "State",
      cell: (r) => (!r.ack ? <Badge tone="info">waiting</Badge> : r.ack.error ? <Badge tone="danger">failed</Badge> : <Badge tone="ok">acknowledged</Badge>),
    },
    ...(extra ?? []),
    {
      key: "after",
      header: "Acknowledged after",
      numeric: true,
      cell: (r) => (r.ack?.ackedAt && created ? `${Math.max(0, timestampMs(r.ack.ackedAt) - created)} ms` : "—"),
    },
    { key: "error", header: "Error", cell: (r) => (r.ack?.error ? <span className={styles.error}>{r.ack.error}</span> : <span className={styles.muted}>—</span>) },
  ];
  return (
    <div className={styles.progress} aria-label={`${label} progress`} role="group">
      <div className={styles.progressHead}>
        <strong data-testid="acked">
          {done}/{total} nodes acknowledged
        </strong>
        {complete ? <Badge tone="ok">complete in {durationText(timeToLastAck)}</Badge> : <Badge tone="info">in progress</Badge>}
      </div>
      <div className={styles.bar} role="progressbar" aria-label={`${label}: nodes acknowledged`} aria-valuemin={0} aria-valuemax={total} aria-valuenow={done} aria-valuetext={`${done} of ${total} nodes`}>
        <div className={styles.barFill} style={{ width: `${pct}%` }} />
      </div>
      <Table caption={`${label}: nodes`} hideCaption columns={columns} rows={rows} rowKey={(r) => r.nodeId} empty={total === 0 ? "No node was online in its partitions: nothing to wait for." : "Waiting for the first node."} />
    </div>
  );
}
