import { useEffect, useMemo, useState } from "react";
import { useQuery } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { ConfigService, NodeService, client, errorMessage } from "../../api";
import type { NodeInfo } from "../../gen/strata/config/v1/config_pb";
import type { Cluster, Partition } from "../../gen/strata/config/v1/resources_pb";
import { NodeDnsState } from "../../gen/strata/config/v1/resources_pb";
import { Table, type Column } from "../../components/Table";
import { ErrorPanel } from "../../components/ErrorPanel";
import { Badge, Loading, PageHeader, Section } from "../../components/Page";
import { useActionDialog } from "../../components/ActionDialog";
import { plural } from "../../lib/format";
import { ago, healthShare, lagText, nodeState, stateLabel, stateTone, syncShare } from "./sync";
import { topologyRefreshMs, useLiveNodes } from "./useLiveNodes";
import { SyncMap } from "./SyncMap";
import { JoinTokens } from "./JoinTokens";
import { ClusterEditor, locationText } from "./ClusterEditor";
import styles from "./GatewaysPage.module.css";

const dnsText: Record<NodeDnsState, string> = {
  [NodeDnsState.UNSPECIFIED]: "—",
  [NodeDnsState.NONE]: "none",
  [NodeDnsState.ANSWERING]: "answering",
  [NodeDnsState.OFF]: "off",
  [NodeDnsState.FAILED]: "failed",
};

export function GatewaysPage() {
  // Topology changes less often than sync state: read again every 2 s.
  const partitions = useQuery(ConfigService.method.listPartitions, {}, { refetchInterval: topologyRefreshMs });
  const clusters = useQuery(ConfigService.method.listClusters, {}, { refetchInterval: topologyRefreshMs });
  const nodes = useLiveNodes();
  const [dialog, show] = useActionDialog();
  useTick(1000); // "seen 3s ago" keeps counting between stream messages

  const partitionList = partitions.data?.partitions ?? [];
  const clusterList = clusters.data?.clusters ?? [];
  const nodeList = nodes.data?.nodes ?? [];
  const partitionName = useMemo(() => {
    const m = new Map(partitionList.map((p) => [p.id, p.name]));
    return (id: string) => m.get(id) ?? id;
  }, [partitionList]);
  const clusterName = useMemo(() => {
    const m = new Map(clusterList.map((c) => [c.id, c.name]));
    return (id: string) => m.get(id) ?? id;
  }, [clusterList]);
  const nodesOf = useMemo(() => {
    const m = new Map<string, NodeInfo[]>();
    for (const n of nodeList) {
      const c = n.node?.clusterId ?? "";
      m.set(c, [...(m.get(c) ?? []), n]);
    }
    return (clusterId: string) => m.get(clusterId) ?? [];
  }, [nodeList]);

  const err = partitions.error ?? clusters.error ?? nodes.error;
  if (err && !(partitions.data && clusters.data && nodes.data)) return <><PageHeader title="Gateways" /><ErrorPanel error={err} what="list gateways" /></>;
  if (partitions.isPending || clusters.isPending || nodes.isPending) return <><PageHeader title="Gateways" /><Loading what="gateways" /></>;

  const all = syncShare(nodeList);
  const stale = nodes.isError; // the last read failed: the map shows the previous one

  return (
    <>
      <PageHeader
        title="Gateways"
        description="Partitions, clusters and nodes: which config version each node runs, live."
        actions={
          <span className={styles.live} role="status" aria-live="off">
            <span className={`${styles.dot} ${stale ? styles.stale : ""}`} aria-hidden="true" />
            {stale ? (
              <>Not updating: {errorMessage(nodes.error)}</>
            ) : nodes.mode === "stream" ? (
              <>Live (streamed) · last change {new Date(nodes.dataUpdatedAt).toLocaleTimeString()}</>
            ) : (
              <>Live (read every second) · {new Date(nodes.dataUpdatedAt).toLocaleTimeString()}</>
            )}
          </span>
        }
      />
      {dialog}
      <p className={styles.summary}>
        <span>{plural(partitionList.length, "partition")}</span>
        <span>{plural(clusterList.length, "cluster")}</span>
        <span>{plural(nodeList.length, "node")}</span>
        <span>
          in sync: <strong data-testid="share-all">{all.label}</strong>
        </span>
      </p>

      <Section title="Sync map">
        <SyncMap clusters={clusterList} nodes={nodeList} partitionName={partitionName} />
      </Section>

      <ClustersSection clusters={clusterList} partitions={partitionList} partitionName={partitionName} clusterName={clusterName} nodesOf={nodesOf} show={show} />
      <NodesSection nodes={nodeList} clusterName={clusterName} show={show} />
      <PartitionsSection partitions={partitionList} clusters={clusterList} nodesOf={nodesOf} show={show} />
      <JoinTokens clusters={clusterList} clusterName={clusterName} show={show} />
    </>
  );
}

// useTick re-renders every ms milliseconds.
function useTick(ms: number) {
  const [, setN] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setN((n) => n + 1), ms);
    return () => clearInterval(t);
  }, [ms]);
}

type Show = ReturnType<typeof useActionDialog>[1];

function ClustersSection({
  clusters,
  partitions,
  partitionName,
  clusterName,
  nodesOf,
  show,
}: {
  clusters: Cluster[];
  partitions: Partition[];
  partitionName: (id: string) => string;
  clusterName: (id: string) => string;
  nodesOf: (id: string) => NodeInfo[];
  show: Show;
}) {
  const qc = useQueryClient();
  const [name, setName] = useState("");
  const [partition, setPartition] = useState("");
  const [error, setError] = useState("");
  const [editing, setEditing] = useState<Cluster | null>(null);

  const create = async () => {
    setError("");
    try {
      await client(ConfigService).createCluster({ name: name.trim(), partition: partition || partitions[0]?.id || "" });
      setName("");
      await qc.invalidateQueries();
    } catch (e) {
      setError(errorMessage(e));
    }
  };

  const columns: Column<Cluster>[] = [
    { key: "partition", header: "Partition", sortValue: (c) => partitionName(c.partitionId), cell: (c) => partitionName(c.partitionId) },
    { key: "name", header: "Name", sortValue: (c) => c.name, cell: (c) => <strong>{c.name}</strong> },
    { key: "location", header: "Location", sortValue: (c) => locationText(c.location), cell: (c) => locationText(c.location) || <span className={styles.muted}>unknown</span> },
    { key: "dns", header: "DNS", sortValue: (c) => (c.dnsDisabled ? 1 : 0), cell: (c) => (c.dnsDisabled ? <Badge>off</Badge> : <Badge tone="ok">on</Badge>) },
    {
      key: "parents",
      header: "Parent tiers",
      cell: (c) => (c.parentClusterIds.length ? c.parentClusterIds.map(clusterName).join(" → ") : <span className={styles.muted}>none (origin)</span>),
    },
    { key: "nodes", header: "Nodes", numeric: true, sortValue: (c) => nodesOf(c.id).length, cell: (c) => nodesOf(c.id).length },
    { key: "created", header: "Created", sortValue: (c) => Number(c.createdAt?.seconds ?? 0), cell: (c) => (c.createdAt ? ago(c.createdAt) : "—") },
    { key: "updated", header: "Updated", sortValue: (c) => Number(c.updatedAt?.seconds ?? 0), cell: (c) => (c.updatedAt ? ago(c.updatedAt) : "—") },
    {
      key: "software",
      header: "Software",
      cell: (c) => [...new Set(nodesOf(c.id).map((n) => n.softwareVersion).filter((v) => v))].sort().join(", ") || "—",
    },
    {
      key: "synced",
      header: "Synced nodes",
      sortValue: (c) => {
        const s = syncShare(nodesOf(c.id));
        return s.all ? s.inSync / s.all : -1;
      },
      cell: (c) => {
        const s = syncShare(nodesOf(c.id));
        return <Badge tone={s.all === 0 ? "neutral" : s.inSync === s.all ? "ok" : "warn"}>{s.label}</Badge>;
      },
    },
    {
      key: "health",
      header: "Health",
      cell: (c) => {
        const h = healthShare(nodesOf(c.id));
        return <Badge tone={h.online === 0 ? "neutral" : h.healthy === h.online ? "ok" : "danger"}>{h.label}</Badge>;
      },
    },
    {
      key: "actions",
      header: "Actions",
      cell: (c) => (
        <div className={styles.actions}>
          <button type="button" onClick={() => setEditing(c)} aria-label={`Edit cluster ${c.name}`}>
            Edit
          </button>
          <button
            type="button"
            className={styles.dangerButton}
            aria-label={`Delete cluster ${c.name}`}
            onClick={() =>
              show({
                title: `Delete cluster ${c.name}?`,
                submit: "Delete cluster",
                danger: true,
                children: <p>The cluster must have no nodes, join tokens, child clusters or gateway records.</p>,
                run: () => client(ConfigService).deleteCluster({ cluster: c.id }),
              })
            }
          >
            Delete
          </button>
        </div>
      ),
    },
  ];

  return (
    <Section title="Clusters">
      <form
        className={styles.form}
        onSubmit={(e) => {
          e.preventDefault();
          void create();
        }}
      >
        <label className={styles.field}>
          <span>New cluster name</span>
          <input value={name} onChange={(e) => setName(e.target.value)} placeholder="fra" required maxLength={63} />
        </label>
        <label className={styles.field}>
          <span>Partition</span>
          <select value={partition || partitions[0]?.id || ""} onChange={(e) => setPartition(e.target.value)}>
            {partitions.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Create cluster</button>
        {error && (
          <span role="alert" className={styles.error}>
            {error}
          </span>
        )}
      </form>
      <Table caption={plural(clusters.length, "cluster")} hideCaption columns={columns} rows={clusters} rowKey={(c) => c.id} initialSort={{ key: "name", dir: "asc" }} empty="No clusters yet." />
      {editing && <ClusterEditor cluster={editing} clusters={clusters} onClose={() => setEditing(null)} />}
    </Section>
  );
}

function NodesSection({ nodes, clusterName, show }: { nodes: NodeInfo[]; clusterName: (id: string) => string; show: Show }) {
  const columns: Column<NodeInfo>[] = [
    {
      key: "name",
      header: "Name / roles",
      sortValue: (n) => n.node?.name ?? "",
      cell: (n) => (
        <>
          <strong>{n.node?.name}</strong>
          {n.roles.length > 0 && <div className={styles.sub}>{n.roles.join(", ")}</div>}
        </>
      ),
    },
    { key: "cluster", header: "Cluster", sortValue: (n) => clusterName(n.node?.clusterId ?? ""), cell: (n) => clusterName(n.node?.clusterId ?? "") },
    {
      key: "state",
      header: "State",
      sortValue: (n) => nodeState(n),
      cell: (n) => {
        const s = nodeState(n);
        return (
          <>
            <Badge tone={stateTone[s]}>{stateLabel[s]}</Badge> {n.node?.staging && <Badge tone="info">staging</Badge>}
            <div className={styles.sub}>seen {ago(n.lastSeen)}</div>
          </>
        );
      },
    },
    {
      key: "version",
      header: "Version / lag",
      sortValue: (n) => n.lagSeconds,
      cell: (n) => (
        <>
          <span title="applied / newest version of its track">
            {n.appliedVersion.toString()}/{n.latestVersion.toString()}
          </span>
          {n.lagReleases > 0n && <div className={styles.sub}>{lagText(n)} behind</div>}
        </>
      ),
    },
    {
      key: "health",
      header: "Health",
      cell: (n) => (
        <>
          {!n.online ? <span className={styles.muted}>—</span> : n.healthy ? <Badge tone="ok">healthy</Badge> : <Badge tone="danger">{n.healthReason || "unhealthy"}</Badge>}
          {n.peerChecks && <div className={styles.sub}>peers: {n.peerChecks}</div>}
        </>
      ),
    },
    { key: "software", header: "Software", sortValue: (n) => n.softwareVersion, cell: (n) => n.softwareVersion ? <span className={styles.mono}>{n.softwareVersion}</span> : "—" },
    { key: "dns", header: "DNS", cell: (n) => dnsText[n.dns] ?? "—" },
    {
      key: "errors",
      header: "Apply errors",
      cell: (n) =>
        n.applyError || n.publishError ? (
          <span className={styles.error}>
            {n.applyError && <>rejects the newest snapshot: {n.applyError}</>}
            {n.publishError && <>not published: {n.publishError}</>}
          </span>
        ) : (
          <span className={styles.muted}>none</span>
        ),
    },
    {
      key: "xdp",
      header: "XDP",
      cell: (n) =>
        n.xdp.length ? (
          <span className={styles.mono} title={n.xdp.filter((x) => x.error).map((x) => `${x.name}: ${x.error}`).join("\n") || undefined}>
            {n.xdp.map((x) => `${x.name}:${x.mode || "failed"}`).join(", ")}
          </span>
        ) : (
          <span className={styles.muted}>—</span>
        ),
    },
    { key: "actions", header: "Actions", cell: (n) => <NodeActions n={n} show={show} /> },
  ];
  return (
    <Section title="Nodes">
      <div className={styles.compact}>
      <Table caption={plural(nodes.length, "node")} hideCaption columns={columns} rows={nodes} rowKey={(n) => n.node?.id ?? ""} initialSort={{ key: "name", dir: "asc" }} empty={<>No nodes yet. Create a join token below and run <code>strata node --join-token TOKEN</code>.</>} />
      </div>
    </Section>
  );
}

function NodeActions({ n, show }: { n: NodeInfo; show: Show }) {
  const node = n.node;
  if (!node) return null;
  const name = node.name;
  return (
    <div className={`${styles.actions} ${styles.nowrap}`}>
      {!node.approved && (
        <button
          type="button"
          aria-label={`Approve node ${name}`}
          onClick={() =>
            show({
              title: `Approve node ${name}?`,
              submit: "Approve",
              children: <p>The node gets its credentials on its next join and starts serving its partition's config.</p>,
              run: () => client(NodeService).approveNode({ nodeId: node.id }),
            })
          }
        >
          Approve
        </button>
      )}
      <button
        type="button"
        aria-label={`${node.disabled ? "Enable" : "Disable"} node ${name}`}
        onClick={() =>
          show({
            title: `${node.disabled ? "Enable" : "Disable"} node ${name}?`,
            submit: node.disabled ? "Enable" : "Disable",
            danger: !node.disabled,
            children: node.disabled ? (
              <p>The node is marked online again: gateway DNS records answer with it.</p>
            ) : (
              <p>The node is marked offline (drained): gateway DNS records stop answering with it. It keeps its credentials and keeps syncing.</p>
            ),
            run: () => client(NodeService).setNodeDisabled({ nodeId: node.id, disabled: !node.disabled }),
          })
        }
      >
        {node.disabled ? "Enable" : "Disable"}
      </button>
      <button
        type="button"
        aria-label={`${node.staging ? "Staging off" : "Staging on"} for node ${name}`}
        onClick={() =>
          show({
            title: node.staging ? `Move ${name} to the stable track?` : `Move ${name} to the staging track?`,
            submit: node.staging ? "Move to stable" : "Move to staging",
            children: <p>{node.staging ? "The node then runs stable releases only." : "The node then runs staging releases before every other node."}</p>,
            run: () => client(ConfigService).setNodeStaging({ nodeId: node.id, staging: !node.staging }),
          })
        }
      >
        {node.staging ? "Staging off" : "Staging on"}
      </button>
      <button
        type="button"
        className={styles.dangerButton}
        aria-label={`Remove node ${name}`}
        onClick={() =>
          show({
            title: `Remove node ${name}?`,
            submit: "Remove node",
            danger: true,
            children: <p>Its key is revoked and its connections closed; to come back it must join again with a new token.</p>,
            run: () => client(ConfigService).removeNode({ nodeId: node.id }),
          })
        }
      >
        Remove
      </button>
    </div>
  );
}

function PartitionsSection({ partitions, clusters, nodesOf, show }: { partitions: Partition[]; clusters: Cluster[]; nodesOf: (id: string) => NodeInfo[]; show: Show }) {
  const qc = useQueryClient();
  const [name, setName] = useState("");
  const [error, setError] = useState("");
  const clustersIn = (p: string) => clusters.filter((c) => c.partitionId === p);

  const rename = (p: Partition) => {
    let next = p.name;
    show({
      title: `Rename partition ${p.name}`,
      submit: "Rename",
      children: (
        <label className={styles.field}>
          <span>New name</span>
          <input defaultValue={p.name} required maxLength={63} onChange={(e) => (next = e.target.value)} autoFocus />
        </label>
      ),
      run: () => client(ConfigService).updatePartition({ partition: p.id, name: next.trim() }),
    });
  };

  const columns: Column<Partition>[] = [
    { key: "name", header: "Name", sortValue: (p) => p.name, cell: (p) => <strong>{p.name}</strong> },
    { key: "id", header: "ID", cell: (p) => <span className={styles.mono}>{p.id}</span> },
    { key: "clusters", header: "Clusters", numeric: true, cell: (p) => clustersIn(p.id).length },
    { key: "nodes", header: "Nodes", numeric: true, cell: (p) => clustersIn(p.id).reduce((s, c) => s + nodesOf(c.id).length, 0) },
    {
      key: "actions",
      header: "Actions",
      cell: (p) => (
        <div className={styles.actions}>
          <button type="button" onClick={() => rename(p)} aria-label={`Rename partition ${p.name}`}>
            Rename
          </button>
          <button
            type="button"
            className={styles.dangerButton}
            aria-label={`Delete partition ${p.name}`}
            onClick={() =>
              show({
                title: `Delete partition ${p.name}?`,
                submit: "Delete partition",
                danger: true,
                children: <p>Only a partition that no cluster, app or zone uses can be deleted.</p>,
                run: () => client(ConfigService).deletePartition({ partition: p.id }),
              })
            }
          >
            Delete
          </button>
        </div>
      ),
    },
  ];

  return (
    <Section title="Partitions">
      <form
        className={styles.form}
        onSubmit={async (e) => {
          e.preventDefault();
          setError("");
          try {
            await client(ConfigService).createPartition({ name: name.trim() });
            setName("");
            await qc.invalidateQueries();
          } catch (x) {
            setError(errorMessage(x));
          }
        }}
      >
        <label className={styles.field}>
          <span>New partition name</span>
          <input value={name} onChange={(e) => setName(e.target.value)} placeholder="eu" required maxLength={63} />
        </label>
        <button type="submit">Create partition</button>
        {error && (
          <span role="alert" className={styles.error}>
            {error}
          </span>
        )}
      </form>
      <Table caption={plural(partitions.length, "partition")} hideCaption columns={columns} rows={partitions} rowKey={(p) => p.id} initialSort={{ key: "name", dir: "asc" }} />
    </Section>
  );
}
