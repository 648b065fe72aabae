import type { PageDef } from "../types";
import { MetricsPage } from "./MetricsPage";

// Not "/metrics": that is the API server's Prometheus endpoint.
export const page: PageDef = { path: "dashboard", label: "Metrics", keywords: ["requests", "latency", "dashboard"], Component: MetricsPage };
