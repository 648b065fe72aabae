import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { NodeInfoSchema } from "../../gen/strata/config/v1/config_pb";
import { NodeAckSchema } from "../../gen/strata/purge/v1/purge_pb";
import { bytesText, durationText, progressRows } from "./Progress";
import { checkPushUrl } from "./PushTab";

const n = (id: string, partitionId: string, online = true) => create(NodeInfoSchema, { node: { id, name: id.replace("nod_", "") }, partitionId, online });

describe("progressRows", () => {
  const nodes = [n("nod_a", "prt_1"), n("nod_b", "prt_1"), n("nod_c", "prt_1", false), n("nod_d", "prt_2")];
  it("acked nodes first, then the online nodes of the partitions waited for", () => {
    const acks = [create(NodeAckSchema, { nodeId: "nod_b", objects: 3n })];
    expect(progressRows(acks, nodes, ["prt_1"], false).map((r) => [r.name, !!r.ack])).toEqual([
      ["b", true],
      ["a", false],
    ]);
  });
  it("a complete purge lists only its acks; unknown nodes by id", () => {
    const acks = [create(NodeAckSchema, { nodeId: "nod_a" }), create(NodeAckSchema, { nodeId: "nod_gone", error: "x" })];
    expect(progressRows(acks, nodes, ["prt_1"], true).map((r) => r.name)).toEqual(["a", "nod_gone"]);
  });
});

describe("formatting", () => {
  it("durations and bytes", () => {
    expect(durationText({ seconds: 0n, nanos: 42_000_000 } as never)).toBe("42 ms");
    expect(durationText({ seconds: 3n, nanos: 500_000_000 } as never)).toBe("3.50 s");
    expect(durationText(undefined)).toBe("");
    expect(bytesText(512)).toBe("512 B");
    expect(bytesText(2048n)).toBe("2.0 KiB");
  });
  it("push URLs", () => {
    expect(checkPushUrl("https://shop.example.com/a")).toBe("");
    expect(checkPushUrl("shop.example.com/a")).toBe('"shop.example.com/a" is not an absolute URL');
    expect(checkPushUrl("ftp://shop.example.com/a")).toBe('"ftp://shop.example.com/a": want http or https');
  });
});
