import type { PageDef } from "../types";
import { AppPage } from "./AppPage";

// The page of one application (no label: reached from the list or the palette).
export const page: PageDef = { path: "apps/:appId", Component: AppPage };
