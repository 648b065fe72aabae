import type { PageDef } from "../types";
import { MetricsPage } from "./MetricsPage";

export const page: PageDef = { path: "metrics", label: "Metrics", keywords: ["requests", "latency", "dashboard"], Component: MetricsPage };
