import { describe, expect, it } from "vitest";
import { PurgeKind } from "../../gen/strata/purge/v1/purge_pb";
import { checkHost, checkValue, emptyForm, purgeDescription, validatePurge } from "./purgeForm";

describe("validatePurge", () => {
  it("builds a URL purge of every partition", () => {
    const { errors, request } = validatePurge({ ...emptyForm, values: "https://shop.example.com/a?x=1\nshop.example.com/b\n" });
    expect(errors).toEqual({});
    expect(request).toMatchObject({ kind: PurgeKind.URL, values: ["https://shop.example.com/a?x=1", "shop.example.com/b"], soft: false, scope: { target: { case: "all", value: true } } });
    expect(request?.condition).toBeUndefined();
  });
  it("requires values, names the bad lines", () => {
    expect(validatePurge({ ...emptyForm }).errors.values).toBe("At least one URL is required");
    expect(validatePurge({ ...emptyForm, kind: "tag", values: " " }).errors.values).toBe("At least one tag is required");
    expect(validatePurge({ ...emptyForm, values: "ok.example.com/a\nftp://x.example.com/\nbad_host!/x" }).errors.values).toBe(
      'line 2: "ftp://x.example.com/": scheme "ftp", want http or https; line 3: "bad_host!/x": host "bad_host!" is not a host name (character "!")',
    );
    expect(validatePurge({ ...emptyForm, kind: "prefix", values: "shop.example.com/a?q" }).errors.values).toBe('line 1: "shop.example.com/a?q": a prefix has no query');
    expect(validatePurge({ ...emptyForm, kind: "host", values: "a..b" }).errors.values).toMatch(/empty or over-long label/);
    expect(validatePurge({ ...emptyForm, values: Array.from({ length: 1001 }, (_, i) => `h.example/${i}`).join("\n") }).errors.values).toBe("1001 values, at most 1000 per purge");
  });
  it("tags are free text without spaces", () => {
    expect(validatePurge({ ...emptyForm, kind: "tag", values: "product-42 category/shoes" }).request?.values).toEqual(["product-42", "category/shoes"]);
  });
  it("condition: host required, header value needs a header, soft", () => {
    expect(validatePurge({ ...emptyForm, kind: "condition" }).errors["condition.host"]).toBe("Host is required");
    expect(validatePurge({ ...emptyForm, kind: "condition", host: "shop.example.com", headerValue: "x" }).errors["condition.header_value"]).toBe("A header value needs a header name");
    expect(validatePurge({ ...emptyForm, kind: "condition", host: "shop.example.com", header: "Bad Header" }).errors["condition.header"]).toMatch(/header name/);
    const { request } = validatePurge({ ...emptyForm, kind: "condition", host: "shop.example.com", pathRegex: "^/img/", header: "Content-Type", headerValue: "image/png", soft: true, values: "ignored" });
    expect(request).toMatchObject({ kind: PurgeKind.CONDITION, values: [], soft: true, condition: { host: "shop.example.com", pathRegex: "^/img/", header: "Content-Type", headerValue: "image/png" } });
  });
  it("scope: an app or a partition must be chosen", () => {
    expect(validatePurge({ ...emptyForm, values: "a.example/x", scope: "app" }).errors.scope).toBe("Choose the app");
    expect(validatePurge({ ...emptyForm, values: "a.example/x", scope: "partition" }).errors.scope).toBe("Choose the partition");
    expect(validatePurge({ ...emptyForm, values: "a.example/x", scope: "app", appId: "app_1" }).request?.scope).toEqual({ target: { case: "appId", value: "app_1" } });
    expect(validatePurge({ ...emptyForm, values: "a.example/x", scope: "partition", partitionId: "prt_1" }).request?.scope).toEqual({ target: { case: "partitionId", value: "prt_1" } });
  });
});

describe("checks", () => {
  it("hosts and values", () => {
    expect(checkHost("shop.example.com")).toBe("");
    expect(checkHost("*.example.com")).toBe("");
    expect(checkHost("")).toBe("is required");
    expect(checkHost("a".repeat(254))).toBe("longer than 253 characters");
    expect(checkValue("url", "shop.example.com:8080/a")).toBe("");
    expect(checkValue("url", "a b")).toMatch(/space or control/);
    expect(checkValue("tag", "x".repeat(2049))).toBe("2049 bytes, at most 2048");
  });
  it("describes purges", () => {
    expect(purgeDescription({ kind: PurgeKind.URL, values: ["a/x", "a/y", "a/z"] })).toBe("URL a/x, +2");
    expect(purgeDescription({ kind: PurgeKind.CONDITION, values: [], condition: { host: "h", pathRegex: "^/i", header: "X", headerValue: "" } })).toBe("condition h path ~ ^/i with X");
  });
});
