import { create } from "@bufbuild/protobuf";
import type { Violation as FieldViolation } from "../../api";
import { GatewayTargetSchema, GeoMatchSchema, RecordSchema, RecordType, type GeoMatch, type Record as DnsRecord } from "../../gen/strata/dns/v1/zone_pb";

// The record form of the zone page: its fields as the user types them,
// checked here before the call (the API checks again and its field
// violations land under the same fields).

export type ResponseMode = "data" | "cluster" | "gslb";

export type RecordForm = {
  id: string;
  name: string;
  type: string; // "A", "AAAA", ...
  ttl: string;
  mode: ResponseMode;
  data: string;
  cluster: string;
  // GSLB targets, one "cluster weight" per line.
  targets: string;
  countries: string;
  continents: string;
  asns: string;
  isps: string;
  cidrs: string;
  disabled: boolean;
};

export type FormField = keyof RecordForm | "form";
export type FormErrors = Partial<Record<FormField, string>>;

export const recordTypes = ["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "CAA", "PTR"] as const;
export const continents = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"];

export function typeName(t: RecordType): string {
  return RecordType[t] ?? String(t);
}

export const emptyForm: RecordForm = {
  id: "", name: "", type: "A", ttl: "", mode: "data", data: "", cluster: "", targets: "",
  countries: "", continents: "", asns: "", isps: "", cidrs: "", disabled: false,
};

const list = (s: string) => s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);

export function recordToForm(r: DnsRecord): RecordForm {
  const m = r.match;
  return {
    id: r.id,
    name: r.name,
    type: typeName(r.type),
    ttl: r.ttl ? String(r.ttl) : "",
    mode: r.gatewayTargets.length ? "gslb" : r.gatewayCluster ? "cluster" : "data",
    data: r.data,
    cluster: r.gatewayCluster,
    targets: r.gatewayTargets.map((t) => `${t.cluster} ${t.weight || 1}`).join("\n"),
    countries: m?.countries.join(", ") ?? "",
    continents: m?.continents.join(", ") ?? "",
    asns: m?.asns.join(", ") ?? "",
    isps: m?.isps.join(", ") ?? "",
    cidrs: m?.cidrs.join(", ") ?? "",
    disabled: r.disabled,
  };
}

type Target = { cluster: string; weight: number };

function parseTargets(s: string): { targets: Target[]; error?: string } {
  const targets: Target[] = [];
  const lines = s.split("\n").map((l) => l.trim()).filter(Boolean);
  for (const [i, l] of lines.entries()) {
    const f = l.split(/[\s,=:]+/).filter(Boolean);
    if (f.length > 2) return { targets, error: `line ${i + 1}: "cluster weight" expected` };
    const weight = f.length === 2 ? Number(f[1]) : 1;
    if (!Number.isInteger(weight) || weight < 1 || weight > 1000) return { targets, error: `line ${i + 1}: the weight is a whole number from 1 to 1000` };
    targets.push({ cluster: f[0], weight });
  }
  return { targets };
}

const cidrRe = /^([0-9.]+\/\d{1,2}|[0-9a-fA-F:.]+\/\d{1,3})$/;

// validateRecordForm checks what the API would refuse for sure; it returns
// an error per field (empty: the form can be sent).
export function validateRecordForm(f: RecordForm): FormErrors {
  const e: FormErrors = {};
  const name = f.name.trim();
  if (!name) e.name = 'required ("@" for the zone apex)';
  else if (/\s/.test(name)) e.name = "a name has no spaces";
  if (!(recordTypes as readonly string[]).includes(f.type)) e.type = "choose a type";
  if (f.ttl.trim()) {
    const n = Number(f.ttl);
    if (!Number.isInteger(n) || n < 0 || n > 2147483647) e.ttl = "seconds, a whole number (empty or 0: the zone default)";
  }
  const addr = f.type === "A" || f.type === "AAAA";
  if (f.mode === "data") {
    if (!f.data.trim()) e.data = "required";
  } else if (!addr) {
    e.mode = "only A and AAAA records can answer with gateway clusters";
  } else if (f.mode === "cluster") {
    if (!f.cluster.trim()) e.cluster = "required: a cluster id or name";
  } else {
    const { targets, error } = parseTargets(f.targets);
    if (error) e.targets = error;
    else if (targets.length === 0) e.targets = "at least one cluster";
    else if (targets.length > 16) e.targets = "at most 16 clusters";
  }
  if (f.mode === "data" && f.type === "A" && f.data.trim() && !/^\d{1,3}(\.\d{1,3}){3}$/.test(f.data.trim())) e.data = "an IPv4 address (192.0.2.1)";
  if (f.mode === "data" && f.type === "AAAA" && f.data.trim() && !/^[0-9a-fA-F:.]+$/.test(f.data.trim())) e.data = "an IPv6 address (2001:db8::1)";
  const cs = list(f.countries);
  if (cs.some((c) => !/^[A-Za-z]{2}$/.test(c))) e.countries = 'two-letter country codes ("DE, FR")';
  const ks = list(f.continents).map((c) => c.toUpperCase());
  if (ks.some((c) => !continents.includes(c))) e.continents = `continent codes: ${continents.join(", ")}`;
  if (list(f.asns).some((a) => !/^(AS)?\d+$/i.test(a) || Number(a.replace(/^AS/i, "")) > 4294967295)) e.asns = "AS numbers (13335, AS3320)";
  if (list(f.cidrs).some((c) => !cidrRe.test(c))) e.cidrs = 'networks ("203.0.113.0/24", "2001:db8::/32")';
  return e;
}

// formToRecord builds the API's record from a valid form.
export function formToRecord(f: RecordForm): DnsRecord {
  const isps = f.isps.split(",").map((x) => x.trim()).filter(Boolean);
  const match = create(GeoMatchSchema, {
    countries: list(f.countries).map((c) => c.toUpperCase()),
    continents: list(f.continents).map((c) => c.toUpperCase()),
    asns: list(f.asns).map((a) => Number(a.replace(/^AS/i, ""))),
    isps,
    cidrs: list(f.cidrs),
  });
  const hasMatch = match.countries.length + match.continents.length + match.asns.length + match.isps.length + match.cidrs.length > 0;
  return create(RecordSchema, {
    id: f.id,
    name: f.name.trim(),
    type: RecordType[f.type as keyof typeof RecordType] as RecordType,
    ttl: f.ttl.trim() ? Number(f.ttl) : 0,
    data: f.mode === "data" ? f.data.trim() : "",
    gatewayCluster: f.mode === "cluster" ? f.cluster.trim() : "",
    gatewayTargets: f.mode === "gslb" ? parseTargets(f.targets).targets.map((t) => create(GatewayTargetSchema, t)) : [],
    match: hasMatch ? match : undefined,
    disabled: f.disabled,
  });
}

// violationErrors puts the API's field violations ("record.data",
// "record.match.countries[1]", "record.gateway_targets[0].weight") under
// the form's fields; the rest under the form.
export function violationErrors(vs: FieldViolation[]): FormErrors {
  const e: FormErrors = {};
  const map: Record<string, FormField> = {
    name: "name", type: "type", ttl: "ttl", data: "data", gateway_cluster: "cluster", gateway_targets: "targets",
    countries: "countries", continents: "continents", asns: "asns", isps: "isps", cidrs: "cidrs", disabled: "disabled",
  };
  for (const v of vs) {
    const parts = v.field.replace(/^record\.?/, "").split(".").map((p) => p.replace(/\[\d+\]$/, ""));
    const key = parts[0] === "match" ? parts[1] ?? "" : parts[0];
    const field: FormField = map[key] ?? "form";
    const msg = field === "form" && v.field ? `${v.field}: ${v.description}` : v.description;
    e[field] = e[field] ? `${e[field]}; ${msg}` : msg;
  }
  return e;
}

// describeMatch is the "client location / subnet" cell of a record.
export function describeMatch(m: GeoMatch | undefined): string {
  if (!m) return "";
  const parts: string[] = [];
  if (m.countries.length) parts.push(`country ${m.countries.join(", ")}`);
  if (m.continents.length) parts.push(`continent ${m.continents.join(", ")}`);
  if (m.asns.length) parts.push(`AS ${m.asns.join(", ")}`);
  if (m.isps.length) parts.push(`ISP ${m.isps.join(", ")}`);
  if (m.cidrs.length) parts.push(`subnet ${m.cidrs.join(", ")}`);
  return parts.join("; ");
}

// describeResponse is the "response" cell: the data, or the gateway
// cluster, or the GSLB targets with their weights.
export function describeResponse(r: DnsRecord): string {
  if (r.gatewayTargets.length) return "GSLB: " + r.gatewayTargets.map((t) => `${t.cluster} (weight ${t.weight || 1})`).join(", ");
  if (r.gatewayCluster) return `gateway cluster ${r.gatewayCluster}`;
  return r.data;
}
