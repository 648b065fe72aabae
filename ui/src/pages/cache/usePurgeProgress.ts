import { useEffect, useState } from "react";
import { useQuery } from "@connectrpc/connect-query";
import { PurgeService, client } from "../../api";
import type { Purge } from "../../gen/strata/purge/v1/purge_pb";

// How often a purge or push that is not complete is read again (a purge
// when its WatchPurge stream is not available).
export const progressRefreshMs = 500;

// usePurgeProgress is one purge with its acknowledgements as they come:
// the WatchPurge stream (the purge now, then after each acknowledgement,
// ending when complete), or, when the stream fails, GetPurge every 500 ms
// until every expected node acknowledged it (time_to_last_ack set).
export function usePurgeProgress(id: string): { data?: { purge?: Purge }; error: unknown; mode: "stream" | "poll" } {
  const [stream, setStream] = useState<{ id: string; purge?: Purge; failed: boolean }>({ id, failed: false });
  const cur = stream.id === id ? stream : { id, failed: false, purge: undefined };
  const poll = useQuery(PurgeService.method.getPurge, { id }, {
    enabled: id !== "" && cur.failed,
    refetchInterval: (q) => (q.state.data?.purge?.timeToLastAck ? false : progressRefreshMs),
  });

  useEffect(() => {
    if (!id) return;
    const ac = new AbortController();
    setStream({ id, failed: false });
    (async () => {
      try {
        let done = false;
        for await (const res of client(PurgeService).watchPurge({ id }, { signal: ac.signal })) {
          done = res.done || !!res.purge?.timeToLastAck;
          setStream({ id, purge: res.purge, failed: false });
        }
        // A stream that ended before the purge completed: poll the rest.
        if (!done && !ac.signal.aborted) setStream((s) => ({ ...s, id, failed: true }));
      } catch {
        if (ac.signal.aborted) return;
        // Whatever the reason (unimplemented on an older API, a dropped
        // connection), GetPurge polling takes over and reports its own errors.
        setStream((s) => ({ ...s, id, failed: true }));
      }
    })();
    return () => ac.abort();
  }, [id]);

  if (cur.failed) return { data: poll.data ?? (cur.purge ? { purge: cur.purge } : undefined), error: poll.error, mode: "poll" };
  return { data: cur.purge ? { purge: cur.purge } : undefined, error: null, mode: "stream" };
}

// usePushProgress is a push with its per-node results, GetPush every
// 500 ms until complete.
export function usePushProgress(id: string) {
  return useQuery(PurgeService.method.getPush, { id }, {
    enabled: id !== "",
    refetchInterval: (q) => (q.state.data?.push?.timeToLastAck ? false : progressRefreshMs),
  });
}
