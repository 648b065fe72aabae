import { Code, ConnectError } from "@connectrpc/connect";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

// Violation is one google.rpc.BadRequest field violation of an
// invalid_argument answer: the request field ("rule.when",
// "upstream.servers[0].address") and what is wrong with it.
export type Violation = { field: string; description: string };

// fieldViolations decodes the BadRequest details of a failed call (none for
// any other error). The detail is decoded by hand: two string fields, not
// worth generating google/rpc for.
export function fieldViolations(err: unknown): Violation[] {
  if (!err) return [];
  const out: Violation[] = [];
  for (const d of ConnectError.from(err).details) {
    if (!("type" in d) || d.type !== "google.rpc.BadRequest") continue;
    const r = new BinaryReader(d.value);
    while (r.pos < r.len) {
      const [no, wt] = r.tag();
      if (no !== 1 || wt !== WireType.LengthDelimited) {
        r.skip(wt);
        continue;
      }
      const fr = new BinaryReader(r.bytes());
      const v: Violation = { field: "", description: "" };
      while (fr.pos < fr.len) {
        const [n, w] = fr.tag();
        if (n === 1 && w === WireType.LengthDelimited) v.field = fr.string();
        else if (n === 2 && w === WireType.LengthDelimited) v.description = fr.string();
        else fr.skip(w);
      }
      out.push(v);
    }
  }
  return out;
}

// violationsUnder are the violations of field or of anything inside it
// ("rule.actions[0]" covers "rule.actions[0].proxy.upstreams[1].upstream").
export function violationsUnder(vs: Violation[], field: string): Violation[] {
  return vs.filter((v) => v.field === field || v.field.startsWith(field + ".") || v.field.startsWith(field + "["));
}

// isConflict: a write refused because the object changed since it was read
// (a stale expected_version): aborted.
export function isConflict(err: unknown): boolean {
  return !!err && ConnectError.from(err).code === Code.Aborted;
}
