import { describe, expect, it } from "vitest";
import { pages } from ".";

// The API server owns some top-level paths: a console page there would be
// shadowed on reload (GET /metrics is Prometheus; /strata.*, /grpc.* are RPCs).
const apiPaths = ["metrics", "login"];

describe("page registry", () => {
  it("has unique paths that the API does not own", () => {
    const paths = pages.map((p) => p.path);
    expect(new Set(paths).size).toBe(paths.length);
    for (const p of paths) {
      const first = p.split("/")[0];
      expect(first.includes("."), `${p}: a first segment with a dot is an RPC path`).toBe(false);
      expect(apiPaths.includes(first), `${p}: owned by the API server or the login page`).toBe(false);
    }
  });
  it("labels every navigation page", () => {
    expect(pages.filter((p) => p.label).map((p) => p.label)).toEqual([
      "Applications", "Releases", "Gateways", "DNS", "Certificates", "Cache", "Metrics", "IAM", "Audit",
    ]);
  });
});
