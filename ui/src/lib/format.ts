import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { timestampDate } from "@bufbuild/protobuf/wkt";

// Formatting shared by the pages.

export function formatTime(ts: Timestamp | undefined): string {
  if (!ts) return "—";
  return timestampDate(ts).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function plural(n: number | bigint, one: string, many = one + "s"): string {
  return `${n} ${Number(n) === 1 ? one : many}`;
}

// releaseState describes where an app or zone is in its release cycle.
export function releaseState(latest: bigint, pending: number): string {
  if (latest === 0n) return pending > 0 ? `never released, ${plural(pending, "change")}` : "never released";
  return pending > 0 ? `release ${latest}, ${plural(pending, "unreleased change")}` : `release ${latest}`;
}
