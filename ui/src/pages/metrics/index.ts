import { lazy } from "react";
import type { PageDef } from "../types";

const MetricsPage = lazy(() => import("./MetricsPage").then((m) => ({ default: m.MetricsPage })));

// Not "/metrics": that is the API server's Prometheus endpoint.
export const page: PageDef = { path: "dashboard", label: "Metrics", keywords: ["requests", "latency", "dashboard", "nodes", "health"], Component: MetricsPage };
