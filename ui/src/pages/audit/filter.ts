// The audit page's search, kept in the URL, and the ListAuditEvents request
// it becomes.

export type AuditSearch = {
  actor: string;
  // Object: a stream or stream prefix ("iam.user", "app.app_1").
  object: string;
  type: string;
  // datetime-local values ("2026-12-04T10:00"), local time; empty: open.
  since: string;
  until: string;
  // AIP-160 filter, passed through.
  filter: string;
};

export const searchKeys = ["actor", "object", "type", "since", "until", "filter"] as const;

export function searchFromParams(p: URLSearchParams): AuditSearch {
  const g = (k: string) => (p.get(k) ?? "").trim();
  return { actor: g("actor"), object: g("object"), type: g("type"), since: g("since"), until: g("until"), filter: g("filter") };
}

export function searchToParams(s: AuditSearch): URLSearchParams {
  const p = new URLSearchParams();
  for (const k of searchKeys) if (s[k].trim()) p.set(k, s[k].trim());
  return p;
}

export type AuditRequest = {
  actor: string;
  stream: string;
  type: string;
  since?: Date;
  until?: Date;
  filter: string;
  pageSize: number;
};

// buildAuditRequest turns a search into the request (without the page
// token), or says which field is wrong.
export function buildAuditRequest(s: AuditSearch, pageSize = 50): { request: AuditRequest } | { error: { field: keyof AuditSearch; message: string } } {
  const since = parseLocal(s.since);
  const until = parseLocal(s.until);
  if (since === null) return { error: { field: "since", message: "not a date and time" } };
  if (until === null) return { error: { field: "until", message: "not a date and time" } };
  if (since && until && since > until) return { error: { field: "until", message: "is before since" } };
  for (const k of ["object", "type"] as const) {
    const v = s[k].trim();
    if (v && (v.startsWith(".") || v.endsWith(".") || v.includes(".."))) return { error: { field: k, message: "a name or prefix at a '.' boundary, e.g. iam.user" } };
  }
  return {
    request: {
      actor: s.actor.trim(),
      stream: s.object.trim(),
      type: s.type.trim(),
      ...(since ? { since } : {}),
      ...(until ? { until } : {}),
      filter: s.filter.trim(),
      pageSize,
    },
  };
}

// parseLocal reads a datetime-local value: undefined when empty, null when
// invalid.
function parseLocal(v: string): Date | undefined | null {
  const t = v.trim();
  if (!t) return undefined;
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?)?$/.test(t)) return null;
  const d = new Date(t.includes("T") ? t : t + "T00:00");
  return isNaN(d.getTime()) ? null : d;
}

// lastHours is the datetime-local value of `hours` before now, for the
// quick ranges.
export function lastHours(hours: number, now = new Date()): string {
  const d = new Date(now.getTime() - hours * 3600_000);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// prettyJson indents an event's JSON payload (as is when it is not JSON).
export function prettyJson(s: string): string {
  if (!s) return "";
  try {
    return JSON.stringify(JSON.parse(s), null, 2);
  } catch {
    return s;
  }
}
