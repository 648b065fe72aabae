import type { PageDef } from "../types";
import { DnsPage } from "./DnsPage";

export const page: PageDef = { path: "dns", label: "DNS", keywords: ["zones", "records"], Component: DnsPage };
