import type { ComponentType } from "react";

// PageDef is one page of the console: its route under the layout, and, for
// pages in the navigation, its label. The command palette lists every page
// with a label.
export type PageDef = {
  // Route path relative to "/", e.g. "apps" or "apps/:appId".
  path: string;
  // In the navigation and the command palette; omit for detail pages.
  label?: string;
  // Extra words the command palette matches, e.g. ["domains", "upstreams"].
  keywords?: string[];
  Component: ComponentType;
};
