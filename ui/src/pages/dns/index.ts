import type { PageDef } from "../types";
import { DnsPage } from "./DnsPage";
import { ZonePage } from "./ZonePage";

export const page: PageDef = { path: "dns", label: "DNS", keywords: ["zones", "records"], Component: DnsPage };
export const zonePage: PageDef = { path: "dns/:zoneId", Component: ZonePage };
