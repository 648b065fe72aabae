import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { NodeInfo } from "../../gen/strata/config/v1/config_pb";
import type { Cluster } from "../../gen/strata/config/v1/resources_pb";

// The sync state of nodes, as the gateways page and its sync map show it.

// NodeState is what a node's tile and state badge say: awaiting approval,
// disabled by an operator, offline (no heartbeat for 15 s), in sync (online
// and running the newest version of its track), or behind.
export type NodeState = "pending" | "disabled" | "offline" | "in-sync" | "behind";

export function nodeState(n: Pick<NodeInfo, "node" | "online" | "inSync">): NodeState {
  if (!n.node?.approved) return "pending";
  if (n.node.disabled) return "disabled";
  if (!n.online) return "offline";
  return n.inSync ? "in-sync" : "behind";
}

export const stateLabel: Record<NodeState, string> = {
  pending: "awaiting approval",
  disabled: "disabled",
  offline: "offline",
  "in-sync": "in sync",
  behind: "behind",
};

export const stateTone: Record<NodeState, "ok" | "warn" | "danger" | "neutral" | "info"> = {
  pending: "info",
  disabled: "neutral",
  offline: "danger",
  "in-sync": "ok",
  behind: "warn",
};

// SyncShare is the share of a set of nodes in sync, as `strata node list`
// prints it: "3/3 (100%)".
export type SyncShare = { inSync: number; all: number; label: string };

export function syncShare(nodes: Pick<NodeInfo, "inSync">[]): SyncShare {
  const all = nodes.length;
  const inSync = nodes.filter((n) => n.inSync).length;
  const label = all === 0 ? "no nodes" : `${inSync}/${all} (${Math.round((100 * inSync) / all)}%)`;
  return { inSync, all, label };
}

// healthShare is "2/3 healthy" over the online nodes ("no node online").
export function healthShare(nodes: Pick<NodeInfo, "online" | "healthy">[]): { healthy: number; online: number; label: string } {
  const online = nodes.filter((n) => n.online);
  const healthy = online.filter((n) => n.healthy).length;
  return { healthy, online: online.length, label: online.length === 0 ? "no node online" : `${healthy}/${online.length} healthy` };
}

// Tile is one node on the sync map.
export type Tile = { id: string; name: string; state: NodeState; version: string; title: string };

// MapCluster is one cluster's row of the sync map.
export type MapCluster = { id: string; name: string; partitionId: string; share: SyncShare; tiles: Tile[]; counts: Record<NodeState, number> };

// tile describes a node for the sync map: its state, the version it runs
// out of the newest one, and what a hover says.
export function tile(n: NodeInfo): Tile {
  const state = nodeState(n);
  const name = n.node?.name ?? "";
  const version = `${n.appliedVersion}/${n.latestVersion}`;
  let title = `${name}: ${stateLabel[state]}, runs version ${n.appliedVersion} of ${n.latestVersion}`;
  if (n.lagReleases > 0n) title += `, ${lagText(n)} behind`;
  if (n.applyError) title += ` — rejects the newest snapshot: ${n.applyError}`;
  return { id: n.node?.id ?? name, name, state, version, title };
}

// syncMap groups nodes by cluster (clusters by name; nodes of an unknown
// cluster under its id, clusters without nodes kept), nodes by name.
export function syncMap(clusters: Pick<Cluster, "id" | "name" | "partitionId">[], nodes: NodeInfo[]): MapCluster[] {
  const by = new Map<string, NodeInfo[]>();
  for (const c of clusters) by.set(c.id, []);
  for (const n of nodes) {
    const c = n.node?.clusterId ?? "";
    if (!by.has(c)) by.set(c, []);
    by.get(c)!.push(n);
  }
  const meta = new Map(clusters.map((c) => [c.id, c]));
  const out: MapCluster[] = [];
  for (const [id, ns] of by) {
    const sorted = [...ns].sort((a, b) => (a.node?.name ?? "").localeCompare(b.node?.name ?? ""));
    const tiles = sorted.map(tile);
    const counts: Record<NodeState, number> = { pending: 0, disabled: 0, offline: 0, "in-sync": 0, behind: 0 };
    for (const t of tiles) counts[t.state]++;
    out.push({ id, name: meta.get(id)?.name ?? id, partitionId: meta.get(id)?.partitionId ?? "", share: syncShare(sorted), tiles, counts });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

// lagText is "2 releases, 35s" for a node behind, "" otherwise.
export function lagText(n: Pick<NodeInfo, "lagReleases" | "lagSeconds">): string {
  if (n.lagReleases === 0n) return "";
  return `${n.lagReleases} ${n.lagReleases === 1n ? "release" : "releases"}, ${duration(n.lagSeconds)}`;
}

// duration is a short human duration: "35s", "4m 10s", "2h 5m", "3d 4h".
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

// ago is "3s ago" for a timestamp before now, "never" when unset.
export function ago(ts: Timestamp | undefined, now: number = Date.now()): string {
  if (!ts || (ts.seconds === 0n && ts.nanos === 0)) return "never";
  return `${duration((now - timestampMs(ts)) / 1000)} ago`;
}

// applyWatch folds one WatchNodes message into the nodes by id: the first
// (initial) message is the whole set; later ones change or remove nodes.
export function applyWatch(prev: Map<string, NodeInfo>, res: { nodes: NodeInfo[]; removedNodeIds: string[]; initial: boolean }): Map<string, NodeInfo> {
  const next = res.initial ? new Map<string, NodeInfo>() : new Map(prev);
  for (const n of res.nodes) next.set(n.node?.id ?? "", n);
  for (const id of res.removedNodeIds) next.delete(id);
  return next;
}
