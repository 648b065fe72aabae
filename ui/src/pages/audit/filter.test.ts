import { describe, expect, it } from "vitest";
import { buildAuditRequest, lastHours, prettyJson, searchFromParams, searchToParams, type AuditSearch } from "./filter";

const empty: AuditSearch = { actor: "", object: "", type: "", since: "", until: "", filter: "" };

describe("buildAuditRequest", () => {
  it("maps the search to the request fields", () => {
    const r = buildAuditRequest({ ...empty, actor: " admin ", object: "iam.user", type: "iam", filter: 'type = "x"' }, 20);
    expect(r).toEqual({ request: { actor: "admin", stream: "iam.user", type: "iam", filter: 'type = "x"', pageSize: 20 } });
  });
  it("parses the time range", () => {
    const r = buildAuditRequest({ ...empty, since: "2026-12-04T10:00", until: "2026-12-05" });
    if (!("request" in r)) throw new Error("want a request");
    expect(r.request.since?.getTime()).toBe(new Date("2026-12-04T10:00").getTime());
    expect(r.request.until?.getTime()).toBe(new Date("2026-12-05T00:00").getTime());
  });
  it("names the wrong field", () => {
    expect(buildAuditRequest({ ...empty, since: "yesterday" })).toEqual({ error: { field: "since", message: "not a date and time" } });
    expect(buildAuditRequest({ ...empty, since: "2026-12-05T00:00", until: "2026-12-04T00:00" })).toEqual({ error: { field: "until", message: "is before since" } });
    expect("error" in buildAuditRequest({ ...empty, object: "iam." })).toBe(true);
    expect("error" in buildAuditRequest({ ...empty, type: ".iam" })).toBe(true);
  });
});

describe("URL round trip", () => {
  it("keeps only set fields", () => {
    const s = { ...empty, actor: "alice", since: "2026-12-04T10:00" };
    const p = searchToParams(s);
    expect(p.toString()).toBe("actor=alice&since=2026-12-04T10%3A00");
    expect(searchFromParams(p)).toEqual(s);
  });
});

describe("helpers", () => {
  it("lastHours formats a local datetime", () => {
    expect(lastHours(1, new Date(2026, 11, 4, 10, 30))).toBe("2026-12-04T09:30");
  });
  it("prettyJson indents JSON and keeps the rest", () => {
    expect(prettyJson('{"a":1}')).toBe('{\n  "a": 1\n}');
    expect(prettyJson("not json")).toBe("not json");
  });
});
