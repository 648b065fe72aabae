import { describe, expect, it } from "vitest";
import { appFilter, quote } from "./filter";

describe("appFilter", () => {
  it("searches domains (contains) and names", () => {
    expect(appFilter("", false)).toBe("");
    expect(appFilter(" Shop.Example ", false)).toBe('(domains:"*shop.example*" OR name:"Shop.Example")');
    expect(appFilter("shop", true)).toBe('(domains:"*shop*" OR name:"shop") AND unreleased = true');
    expect(appFilter("", true, 'labels.env = "prod" OR partition:"edge"')).toBe('unreleased = true AND (labels.env = "prod" OR partition:"edge")');
  });
  it("quotes what the user typed", () => {
    expect(quote('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(appFilter('x" OR name:"', false)).toBe('(domains:"*x\\" or name:\\"*" OR name:"x\\" OR name:\\"")');
  });
});
