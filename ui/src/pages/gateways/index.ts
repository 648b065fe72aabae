import type { PageDef } from "../types";
import { GatewaysPage } from "./GatewaysPage";

export const page: PageDef = { path: "gateways", label: "Gateways", keywords: ["partitions", "clusters", "nodes", "sync", "join tokens"], Component: GatewaysPage };
