import { lazy } from "react";
import type { PageDef } from "../types";

const AuditPage = lazy(() => import("./AuditPage").then((m) => ({ default: m.AuditPage })));

export const page: PageDef = { path: "audit", label: "Audit", keywords: ["log", "events", "history"], Component: AuditPage };
