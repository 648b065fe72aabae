import { useQuery } from "@connectrpc/connect-query";
import { ConfigService } from "../../api";

// How often the node list is read again while a page shows it.
export const nodesRefreshMs = 1000;

// How often partitions, clusters and join tokens are read again.
export const topologyRefreshMs = 2000;

// useLiveNodes is every node with its sync status, kept current: ListNodes
// read again every second (a heartbeat comes every 5 s, a release reaches
// nodes in well under a second). dataUpdatedAt says when it was read.
export function useLiveNodes() {
  return useQuery(ConfigService.method.listNodes, {}, { refetchInterval: nodesRefreshMs, refetchIntervalInBackground: false });
}
