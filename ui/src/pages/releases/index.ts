import type { PageDef } from "../types";
import { ReleasesPage } from "./ReleasesPage";

export const page: PageDef = { path: "releases", label: "Releases", keywords: ["pending", "diff", "revert", "history"], Component: ReleasesPage };
