import { describe, expect, it } from "vitest";
import { RecordType } from "../../gen/strata/dns/v1/zone_pb";
import { describeMatch, describeResponse, emptyForm, formToRecord, recordToForm, validateRecordForm, violationErrors } from "./records";

const form = (f: Partial<typeof emptyForm>) => ({ ...emptyForm, ...f });

describe("validateRecordForm", () => {
  it("accepts a plain A record", () => {
    expect(validateRecordForm(form({ name: "www", type: "A", data: "192.0.2.1" }))).toEqual({});
  });
  it("names each bad field", () => {
    const e = validateRecordForm(form({ name: "", ttl: "-1", data: "" }));
    expect(e.name).toMatch(/required/);
    expect(e.ttl).toMatch(/whole number/);
    expect(e.data).toBe("required");
    expect(validateRecordForm(form({ name: "www", data: "not-an-ip" })).data).toMatch(/IPv4/);
    expect(validateRecordForm(form({ name: "www", type: "AAAA", data: "192.0.2.x" })).data).toMatch(/IPv6/);
  });
  it("checks the geo and subnet match", () => {
    const e = validateRecordForm(form({ name: "www", data: "192.0.2.1", countries: "DE, Germany", continents: "EU, XX", asns: "AS3320, x", cidrs: "10.0.0.0/8, 10.0.0.1" }));
    expect(Object.keys(e).sort()).toEqual(["asns", "cidrs", "continents", "countries"]);
  });
  it("allows gateway answers only for A and AAAA, with valid GSLB weights", () => {
    expect(validateRecordForm(form({ name: "www", type: "CNAME", mode: "cluster", cluster: "eu" })).mode).toMatch(/only A and AAAA/);
    expect(validateRecordForm(form({ name: "www", mode: "cluster" })).cluster).toMatch(/required/);
    expect(validateRecordForm(form({ name: "www", mode: "gslb", targets: "" })).targets).toMatch(/at least one/);
    expect(validateRecordForm(form({ name: "www", mode: "gslb", targets: "eu 0" })).targets).toMatch(/1 to 1000/);
    expect(validateRecordForm(form({ name: "www", mode: "gslb", targets: "eu 3\nus" }))).toEqual({});
    const many = Array.from({ length: 17 }, (_, i) => `c${i} 1`).join("\n");
    expect(validateRecordForm(form({ name: "www", mode: "gslb", targets: many })).targets).toMatch(/at most 16/);
  });
});

describe("formToRecord", () => {
  it("builds the record and round-trips through the form", () => {
    const r = formToRecord(form({ name: " www ", type: "A", ttl: "60", mode: "gslb", targets: "eu 3\nus", countries: "de", asns: "AS3320", isps: "Deutsche Telekom AG, Vodafone" }));
    expect(r.type).toBe(RecordType.A);
    expect(r.name).toBe("www");
    expect(r.ttl).toBe(60);
    expect(r.data).toBe("");
    expect(r.gatewayTargets.map((t) => [t.cluster, t.weight])).toEqual([["eu", 3], ["us", 1]]);
    expect(r.match?.countries).toEqual(["DE"]);
    expect(r.match?.asns).toEqual([3320]);
    expect(r.match?.isps).toEqual(["Deutsche Telekom AG", "Vodafone"]);
    expect(describeResponse(r)).toBe("GSLB: eu (weight 3), us (weight 1)");
    expect(describeMatch(r.match)).toBe("country DE; AS 3320; ISP Deutsche Telekom AG, Vodafone");
    expect(formToRecord(recordToForm(r))).toEqual(r);
    expect(formToRecord(form({ name: "@", data: "192.0.2.1" })).match).toBeUndefined();
  });
});

describe("violationErrors", () => {
  it("puts the API's field violations under the form's fields", () => {
    const e = violationErrors([
      { field: "record.data", description: "bad address" },
      { field: "record.match.countries[1]", description: "unknown country" },
      { field: "record.gateway_targets[0].cluster", description: "no cluster eu" },
      { field: "record", description: "a CNAME owner has no other data" },
    ]);
    expect(e).toEqual({ data: "bad address", countries: "unknown country", targets: "no cluster eu", form: "record: a CNAME owner has no other data" });
  });
});
