import { useEffect, useState } from "react";
import { useQuery } from "@connectrpc/connect-query";
import { Code, ConnectError } from "@connectrpc/connect";
import { ConfigService, client, errorKind } from "../../api";
import type { NodeInfo } from "../../gen/strata/config/v1/config_pb";
import { applyWatch } from "./sync";

// How often the node list is read again while the WatchNodes stream is
// not available (a heartbeat comes every 5 s; a release reaches nodes in
// well under a second).
export const nodesRefreshMs = 1000;

// How often partitions, clusters and join tokens are read again.
export const topologyRefreshMs = 2000;

// When the stream is not served (an older API: unimplemented) it is tried
// again after this long; after another failure, sooner.
const retryUnimplementedMs = 30_000;
const retryMs = 3000;

export type LiveNodes = {
  data?: { nodes: NodeInfo[] };
  error: unknown;
  isPending: boolean;
  isError: boolean;
  dataUpdatedAt: number;
  // "stream": WatchNodes pushes changes; "poll": ListNodes every second.
  mode: "stream" | "poll";
};

// useLiveNodes is every node with its sync status, kept current: the
// WatchNodes stream (every node, then each change), or ListNodes read
// again every second while the stream is not available.
export function useLiveNodes(): LiveNodes {
  const [stream, setStream] = useState<{ nodes?: NodeInfo[]; updatedAt: number; mode: "stream" | "poll"; fatal?: unknown }>({ updatedAt: 0, mode: "stream" });
  const poll = useQuery(ConfigService.method.listNodes, {}, { enabled: stream.mode === "poll" && !stream.fatal, refetchInterval: nodesRefreshMs });

  useEffect(() => {
    const ac = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      let wait = retryMs;
      let nodes = new Map<string, NodeInfo>();
      try {
        for await (const res of client(ConfigService).watchNodes({}, { signal: ac.signal })) {
          nodes = applyWatch(nodes, res);
          const list = [...nodes.values()];
          setStream({ nodes: list, updatedAt: Date.now(), mode: "stream" });
        }
      } catch (e) {
        if (ac.signal.aborted) return;
        const k = errorKind(e);
        if (k === "forbidden" || k === "unauthenticated") {
          setStream((s) => ({ ...s, mode: "poll", fatal: e }));
          return;
        }
        if (ConnectError.from(e).code === Code.Unimplemented) wait = retryUnimplementedMs;
        setStream((s) => ({ ...s, mode: "poll" }));
      }
      if (!ac.signal.aborted) {
        setStream((s) => ({ ...s, mode: "poll" }));
        timer = setTimeout(run, wait);
      }
    };
    void run();
    return () => {
      ac.abort();
      clearTimeout(timer);
    };
  }, []);

  if (stream.fatal) return { error: stream.fatal, isPending: false, isError: true, dataUpdatedAt: 0, mode: "poll" };
  if (stream.mode === "stream" && stream.nodes) return { data: { nodes: stream.nodes }, error: null, isPending: false, isError: false, dataUpdatedAt: stream.updatedAt, mode: "stream" };
  const data = poll.data ? { nodes: poll.data.nodes } : stream.nodes ? { nodes: stream.nodes } : undefined;
  return { data, error: poll.error, isPending: !data && !poll.error, isError: poll.isError, dataUpdatedAt: poll.data ? poll.dataUpdatedAt : stream.updatedAt, mode: "poll" };
}
