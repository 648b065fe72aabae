import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { fold, readable, sideBySide } from "./diff";
import { DiffView } from "./DiffView";
import { objectJSON } from "./ReleasesPage";

afterEach(cleanup);

const before = JSON.stringify({
  id: "app_1",
  name: "shop",
  release: "3",
  domains: ["shop.example.com"],
  upstreams: [{ id: "ups_1", name: "web", servers: [{ address: "10.0.0.1:80", weight: 1 }] }],
  rules: [{ id: "rul_1", name: "all", actions: [{ proxy: { upstreams: [{ upstream: "web", weight: 1 }] } }] }],
});
const after = JSON.stringify({
  id: "app_1",
  name: "shop",
  domains: ["shop.example.com", "www.shop.example.com"],
  upstreams: [{ id: "ups_1", name: "web", servers: [{ address: "10.0.0.2:80", weight: 1 }] }],
  rules: [{ id: "rul_1", name: "all", actions: [{ proxy: { upstreams: [{ upstream: "web", weight: 1 }] } }] }],
});

describe("readable", () => {
  it("renders JSON as key: value lines without the release number", () => {
    const l = readable(before);
    expect(l).toContain("name: shop");
    expect(l).toContain("  - shop.example.com");
    expect(l).toContain("  - id: ups_1");
    expect(l).toContain("      - address: 10.0.0.1:80");
    expect(readable(JSON.stringify({ when: 'Path("/")', body: "a\nb", note: "" }))).toEqual(['when: Path("/")', 'body: "a\\nb"', 'note: ""']);
    expect(l.some((x) => x.startsWith("release"))).toBe(false);
    expect(readable("")).toEqual([]);
  });
});

describe("sideBySide", () => {
  it("pairs removed and added lines as changed, keeps the rest aligned", () => {
    const rows = sideBySide(["a", "b", "c", "d"], ["a", "B", "c", "d", "e"]);
    expect(rows.map((r) => r.kind)).toEqual(["same", "changed", "same", "same", "added"]);
    expect(rows[1].left?.text).toBe("b");
    expect(rows[1].right?.text).toBe("B");
    expect(rows[4].left).toBeUndefined();
    expect(rows[4].right).toEqual({ n: 5, text: "e" });
    expect(sideBySide(["x", "y"], ["y"]).map((r) => r.kind)).toEqual(["removed", "same"]);
  });

  it("folds long unchanged runs, keeping context around changes", () => {
    const a = Array.from({ length: 20 }, (_, i) => `line ${i}`);
    const b = [...a];
    b[10] = "changed";
    const shown = fold(sideBySide(a, b), 3);
    expect(shown.filter((r) => r.kind === "gap").map((r) => ("count" in r ? r.count : 0))).toEqual([7, 6]);
    expect(shown.filter((r) => r.kind === "changed")).toHaveLength(1);
  });
});

describe("DiffView", () => {
  it("shows before and after side by side with the changed lines marked", () => {
    render(<DiffView caption="Pending changes" before={before} after={after} leftTitle="Release #3" rightTitle="Working copy" />);
    const table = screen.getByRole("table", { name: /Pending changes: 2 changed lines/ });
    expect(within(table).getByRole("columnheader", { name: "Release #3" })).toBeTruthy();
    const changed = table.querySelectorAll('tr[data-kind="changed"]');
    expect(changed).toHaveLength(1);
    expect(changed[0].textContent).toMatch(/removed:\s+- address: 10.0.0.1:80/);
    expect(changed[0].textContent).toMatch(/added:\s+- address: 10.0.0.2:80/);
    const added = table.querySelectorAll('tr[data-kind="added"]');
    expect(added[0].textContent).toContain("www.shop.example.com");
  });

  it("says when nothing differs, and unfolds on request", () => {
    render(<DiffView caption="Same" before={before} after={before} leftTitle="a" rightTitle="b" />);
    expect(screen.getByText("No difference.")).toBeTruthy();
    cleanup();
    const many = JSON.stringify({ name: "x", labels: Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, "v"])) });
    const more = JSON.stringify({ name: "y", labels: Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, "v"])) });
    render(<DiffView caption="Big" before={many} after={more} leftTitle="a" rightTitle="b" />);
    const gap = screen.getByRole("button", { name: /unchanged lines/ });
    fireEvent.click(gap);
    expect(screen.queryByRole("button", { name: /unchanged lines/ })).toBeNull();
    expect(screen.getByText("k29: v", { selector: "td:nth-child(2) pre" })).toBeTruthy();
  });

  it("picks one object for an object revert", () => {
    expect(JSON.parse(objectJSON(before, "upstream", "web")).servers[0].address).toBe("10.0.0.1:80");
    expect(objectJSON(before, "rule", "missing")).toBe("");
  });
});
