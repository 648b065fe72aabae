import { describe, expect, it } from "vitest";
import { plural, releaseState } from "./format";

describe("releaseState", () => {
  it("says whether there are unreleased changes", () => {
    expect(releaseState(0n, 0)).toBe("never released");
    expect(releaseState(0n, 3)).toBe("never released, 3 changes");
    expect(releaseState(4n, 0)).toBe("release 4");
    expect(releaseState(4n, 1)).toBe("release 4, 1 unreleased change");
  });
  it("pluralizes", () => {
    expect(plural(2n, "node")).toBe("2 nodes");
    expect(plural(1, "node")).toBe("1 node");
  });
});
