import { describe, expect, it } from "vitest";
import { paletteItems } from "./CommandPalette";

const apps = [
  { id: "app_1", name: "shop", domains: ["shop.example.com", "www.shop.example.com"] },
  { id: "app_2", name: "blog", domains: ["blog.example.org"] },
];

describe("paletteItems", () => {
  it("lists every page without a query, and no apps", () => {
    const items = paletteItems("", apps);
    expect(items.map((i) => i.label)).toContain("Applications");
    expect(items.some((i) => i.id.startsWith("app:"))).toBe(false);
  });
  it("finds apps by domain and pages by keyword", () => {
    expect(paletteItems("example.org", apps).map((i) => i.to)).toEqual(["/apps/app_2"]);
    expect(paletteItems("zones", apps).map((i) => i.to)).toEqual(["/dns"]);
    expect(paletteItems("SHOP", apps).map((i) => i.to)).toEqual(["/apps/app_1"]);
    expect(paletteItems("example.net", apps, [{ id: "zone_1", name: "example.net." }]).map((i) => i.to)).toEqual(["/dns/zone_1"]);
    expect(paletteItems("edge-2", apps, [], [{ id: "node_9", name: "edge-2" }]).map((i) => i.to)).toEqual(["/gateways?node=node_9"]);
  });
});
