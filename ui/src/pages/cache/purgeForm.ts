import type { MessageInitShape } from "@bufbuild/protobuf";
import { PurgeKind, type CreatePurgeRequestSchema } from "../../gen/strata/purge/v1/purge_pb";

// The purge form and its validation: the same checks as the purge
// service (services/purge/validate.go), so that a mistake is shown at the
// field as it is typed; the service checks again (and the path regex,
// RE2, is only checked there).

export type Kind = "url" | "prefix" | "host" | "tag" | "condition";
export type ScopeKind = "all" | "app" | "partition";

export type PurgeForm = {
  kind: Kind;
  // One value per line (or separated by spaces).
  values: string;
  host: string;
  pathRegex: string;
  header: string;
  headerValue: string;
  soft: boolean;
  scope: ScopeKind;
  appId: string;
  partitionId: string;
};

export const emptyForm: PurgeForm = { kind: "url", values: "", host: "", pathRegex: "", header: "", headerValue: "", soft: false, scope: "all", appId: "", partitionId: "" };

export const kindValue: Record<Kind, PurgeKind> = {
  url: PurgeKind.URL,
  prefix: PurgeKind.PREFIX,
  host: PurgeKind.HOST,
  tag: PurgeKind.TAG,
  condition: PurgeKind.CONDITION,
};

export const kindLabel: Record<PurgeKind, string> = {
  [PurgeKind.UNSPECIFIED]: "?",
  [PurgeKind.URL]: "URL",
  [PurgeKind.PREFIX]: "prefix",
  [PurgeKind.HOST]: "host",
  [PurgeKind.TAG]: "tag",
  [PurgeKind.CONDITION]: "condition",
};

export const maxValues = 1000;
export const maxValueLen = 2048;

// Field names are the request's: values, condition.host, scope.app_id...
export type FormErrors = Partial<Record<"values" | "condition.host" | "condition.header" | "condition.header_value" | "scope", string>>;

export function splitValues(s: string): string[] {
  return s.split(/\s+/).filter(Boolean);
}

export function checkHost(h: string): string {
  if (h === "") return "is required";
  if (h.length > 253) return "longer than 253 characters";
  for (const label of h.replace(/\.$/, "").split(".")) {
    if (label === "" || label.length > 63) return `"${h}" is not a host name (empty or over-long label)`;
    const bad = /[^-_*0-9a-zA-Z]/.exec(label);
    if (bad) return `"${h}" is not a host name (character "${bad[0]}")`;
  }
  return "";
}

// checkValue is why one value of a kind is refused, "" when it is fine.
export function checkValue(kind: Kind, v: string): string {
  if (v.length > maxValueLen) return `${v.length} bytes, at most ${maxValueLen}`;
  if (/[\s\p{Cc}]/u.test(v)) return `"${v}" contains a space or control character`;
  if (kind === "url" || kind === "prefix") {
    const s = v.includes("://") ? v : "http://" + v;
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      return `"${v}" is not a URL`;
    }
    const scheme = s.slice(0, s.indexOf("://")).toLowerCase();
    if (scheme !== "http" && scheme !== "https") return `"${v}": scheme "${scheme}", want http or https`;
    const host = s.slice(s.indexOf("://") + 3).split(/[/?#]/)[0].replace(/^.*@/, "").replace(/:\d*$/, "");
    const r = checkHost(host || u.hostname);
    if (r) return `"${v}": host ${r}`;
    if (kind === "prefix" && s.includes("?")) return `"${v}": a prefix has no query`;
  }
  if (kind === "host") {
    const r = checkHost(v);
    if (r) return `"${v}": ${r}`;
  }
  return "";
}

// validatePurge checks the form: errors by field, and the request when
// there are none.
export function validatePurge(f: PurgeForm): { errors: FormErrors; request?: MessageInitShape<typeof CreatePurgeRequestSchema> } {
  const errors: FormErrors = {};
  const values = splitValues(f.values);
  if (f.kind === "condition") {
    const r = checkHost(f.host.trim());
    if (r) errors["condition.host"] = `Host ${r}`;
    const h = f.header.trim();
    if (h && (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(h) || h.length > 256)) errors["condition.header"] = "Header: a header name (letters, digits, - and _), at most 256 characters";
    if (!h && f.headerValue !== "") errors["condition.header_value"] = "A header value needs a header name";
  } else if (values.length === 0) {
    errors.values = `At least one ${f.kind === "url" ? "URL" : f.kind} is required`;
  } else if (values.length > maxValues) {
    errors.values = `${values.length} values, at most ${maxValues} per purge`;
  } else {
    const bad = values.map((v, i) => [i, checkValue(f.kind, v)] as const).filter(([, r]) => r);
    if (bad.length) errors.values = bad.slice(0, 3).map(([i, r]) => `line ${i + 1}: ${r}`).join("; ") + (bad.length > 3 ? `; and ${bad.length - 3} more` : "");
  }
  if (f.scope === "app" && !f.appId) errors.scope = "Choose the app";
  if (f.scope === "partition" && !f.partitionId) errors.scope = "Choose the partition";
  if (Object.keys(errors).length) return { errors };
  const scope =
    f.scope === "app"
      ? { target: { case: "appId" as const, value: f.appId } }
      : f.scope === "partition"
        ? { target: { case: "partitionId" as const, value: f.partitionId } }
        : { target: { case: "all" as const, value: true } };
  return {
    errors,
    request: {
      kind: kindValue[f.kind],
      values: f.kind === "condition" ? [] : values,
      condition: f.kind === "condition" ? { host: f.host.trim(), pathRegex: f.pathRegex, header: f.header.trim(), headerValue: f.headerValue } : undefined,
      soft: f.soft,
      scope,
    },
  };
}

// purgeDescription is one line about what a purge covers: "URL shop.example.com/a, +2".
export function purgeDescription(p: { kind: PurgeKind; values: string[]; condition?: { host: string; pathRegex: string; header: string; headerValue: string } }): string {
  if (p.kind === PurgeKind.CONDITION) {
    const c = p.condition;
    if (!c) return "condition";
    let s = `${c.host}${c.pathRegex ? ` path ~ ${c.pathRegex}` : ""}`;
    if (c.header) s += ` with ${c.header}${c.headerValue ? `: ${c.headerValue}` : ""}`;
    return `condition ${s}`;
  }
  const first = p.values[0] ?? "";
  return `${kindLabel[p.kind]} ${first}${p.values.length > 1 ? `, +${p.values.length - 1}` : ""}`;
}
