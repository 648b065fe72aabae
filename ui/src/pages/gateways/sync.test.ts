import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { NodeInfoSchema, type NodeInfo } from "../../gen/strata/config/v1/config_pb";
import { ago, applyWatch, duration, healthShare, lagText, nodeState, syncMap, syncShare, tile } from "./sync";
import { tokenState } from "./JoinTokens";

function node(name: string, cluster: string, o: Partial<{ approved: boolean; disabled: boolean; online: boolean; inSync: boolean; applied: bigint; latest: bigint; lag: bigint; healthy: boolean; applyError: string }> = {}): NodeInfo {
  return create(NodeInfoSchema, {
    node: { id: "nod_" + name, name, clusterId: cluster, approved: o.approved ?? true, disabled: o.disabled ?? false },
    online: o.online ?? true,
    inSync: o.inSync ?? true,
    healthy: o.healthy ?? true,
    appliedVersion: o.applied ?? 5n,
    latestVersion: o.latest ?? 5n,
    lagReleases: o.lag ?? 0n,
    lagSeconds: o.lag ? 12 : 0,
    applyError: o.applyError ?? "",
  });
}

describe("nodeState", () => {
  it("orders approval, disabled, offline before sync", () => {
    expect(nodeState(node("a", "c", { approved: false, online: false }))).toBe("pending");
    expect(nodeState(node("a", "c", { disabled: true, online: true }))).toBe("disabled");
    expect(nodeState(node("a", "c", { online: false, inSync: true }))).toBe("offline");
    expect(nodeState(node("a", "c"))).toBe("in-sync");
    expect(nodeState(node("a", "c", { inSync: false, applied: 4n, lag: 1n }))).toBe("behind");
  });
});

describe("syncShare", () => {
  it("reads like strata node list", () => {
    expect(syncShare([node("a", "c"), node("b", "c"), node("d", "c")]).label).toBe("3/3 (100%)");
    expect(syncShare([node("a", "c"), node("b", "c", { inSync: false })]).label).toBe("1/2 (50%)");
    expect(syncShare([node("a", "c"), node("b", "c", { inSync: false }), node("d", "c", { inSync: false })]).label).toBe("1/3 (33%)");
    expect(syncShare([]).label).toBe("no nodes");
  });
  it("counts health over online nodes", () => {
    expect(healthShare([node("a", "c"), node("b", "c", { healthy: false }), node("d", "c", { online: false })]).label).toBe("1/2 healthy");
    expect(healthShare([node("a", "c", { online: false })]).label).toBe("no node online");
  });
});

describe("syncMap", () => {
  const clusters = [
    { id: "cls_f", name: "fra", partitionId: "prt_1" },
    { id: "cls_a", name: "ams", partitionId: "prt_1" },
    { id: "cls_e", name: "empty", partitionId: "prt_1" },
  ];
  it("groups nodes by cluster, sorted, with counts", () => {
    const m = syncMap(clusters, [node("f2", "cls_f", { inSync: false, applied: 4n, lag: 1n }), node("f1", "cls_f"), node("a1", "cls_a", { online: false }), node("x", "cls_gone")]);
    expect(m.map((c) => c.name)).toEqual(["ams", "cls_gone", "empty", "fra"]);
    const fra = m.find((c) => c.name === "fra")!;
    expect(fra.tiles.map((t) => [t.name, t.state, t.version])).toEqual([
      ["f1", "in-sync", "5/5"],
      ["f2", "behind", "4/5"],
    ]);
    expect(fra.share.label).toBe("1/2 (50%)");
    expect(fra.counts).toMatchObject({ "in-sync": 1, behind: 1, offline: 0 });
    expect(m.find((c) => c.name === "ams")!.counts.offline).toBe(1);
    expect(m.find((c) => c.name === "empty")!.tiles).toEqual([]);
  });
  it("a release travelling: tiles turn from behind to in sync", () => {
    const before = syncMap(clusters, [node("f1", "cls_f", { inSync: false, applied: 5n, latest: 6n, lag: 1n }), node("f2", "cls_f", { inSync: false, applied: 5n, latest: 6n, lag: 1n })]);
    const half = syncMap(clusters, [node("f1", "cls_f", { applied: 6n, latest: 6n }), node("f2", "cls_f", { inSync: false, applied: 5n, latest: 6n, lag: 1n })]);
    const states = (m: ReturnType<typeof syncMap>) => m.find((c) => c.name === "fra")!.tiles.map((t) => t.state);
    expect(states(before)).toEqual(["behind", "behind"]);
    expect(states(half)).toEqual(["in-sync", "behind"]);
  });
  it("tile titles explain lag and apply errors", () => {
    const t = tile(node("f2", "cls_f", { inSync: false, applied: 4n, latest: 6n, lag: 2n, applyError: "bad cert" }));
    expect(t.title).toBe("f2: behind, runs version 4 of 6, 2 releases, 12s behind — rejects the newest snapshot: bad cert");
  });
});

describe("times", () => {
  it("formats durations and ages", () => {
    expect(duration(35)).toBe("35s");
    expect(duration(250)).toBe("4m 10s");
    expect(duration(7500)).toBe("2h 5m");
    expect(duration(3 * 86400 + 4 * 3600)).toBe("3d 4h");
    expect(ago(timestampFromMs(10_000), 13_000)).toBe("3s ago");
    expect(ago(undefined)).toBe("never");
    expect(lagText({ lagReleases: 1n, lagSeconds: 3 })).toBe("1 release, 3s");
    expect(lagText({ lagReleases: 0n, lagSeconds: 0 })).toBe("");
  });
  it("join token state", () => {
    expect(tokenState({ revoked: true, expiresAt: timestampFromMs(10) }, 0)).toBe("revoked");
    expect(tokenState({ revoked: false, expiresAt: timestampFromMs(10) }, 20)).toBe("expired");
    expect(tokenState({ revoked: false, expiresAt: timestampFromMs(10) }, 5)).toBe("active");
  });
});

describe("applyWatch", () => {
  it("initial replaces, then changes and removals", () => {
    let m = new Map<string, NodeInfo>();
    m = applyWatch(m, { initial: true, nodes: [node("a", "c"), node("b", "c")], removedNodeIds: [] });
    expect([...m.keys()]).toEqual(["nod_a", "nod_b"]);
    m = applyWatch(m, { initial: false, nodes: [node("a", "c", { inSync: false, applied: 4n, latest: 6n })], removedNodeIds: ["nod_b"] });
    expect([...m.keys()]).toEqual(["nod_a"]);
    expect(m.get("nod_a")!.appliedVersion).toBe(4n);
    m = applyWatch(m, { initial: true, nodes: [node("c", "c")], removedNodeIds: [] });
    expect([...m.keys()]).toEqual(["nod_c"]);
  });
});
