import type { PageDef } from "../types";
import { AppsPage } from "./AppsPage";

export const page: PageDef = { path: "apps", label: "Applications", keywords: ["apps", "domains"], Component: AppsPage };
