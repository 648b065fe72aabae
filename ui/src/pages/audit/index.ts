import type { PageDef } from "../types";
import { AuditPage } from "./AuditPage";

export const page: PageDef = { path: "audit", label: "Audit", keywords: ["log", "events", "history"], Component: AuditPage };
