import type { PageDef } from "../types";
import { CachePage } from "./CachePage";

export const page: PageDef = { path: "cache", label: "Cache", keywords: ["purge", "push", "invalidate", "prefetch"], Component: CachePage };
