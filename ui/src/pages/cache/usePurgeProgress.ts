import { useQuery } from "@connectrpc/connect-query";
import { PurgeService } from "../../api";

// How often a purge or push that is not complete is read again.
export const progressRefreshMs = 500;

// usePurgeProgress is one purge with its acknowledgements, read again every
// 500 ms until every expected node acknowledged it (time_to_last_ack set).
export function usePurgeProgress(id: string) {
  return useQuery(PurgeService.method.getPurge, { id }, {
    enabled: id !== "",
    refetchInterval: (q) => (q.state.data?.purge?.timeToLastAck ? false : progressRefreshMs),
  });
}

// usePushProgress is the same for a push.
export function usePushProgress(id: string) {
  return useQuery(PurgeService.method.getPush, { id }, {
    enabled: id !== "",
    refetchInterval: (q) => (q.state.data?.push?.timeToLastAck ? false : progressRefreshMs),
  });
}
