import type { PageDef } from "./types";
import { page as apps } from "./apps";
import { page as app } from "./app";
import { page as releases } from "./releases";
import { page as gateways } from "./gateways";
import { page as dns, zonePage } from "./dns";
import { page as certificates } from "./certificates";
import { page as cache } from "./cache";
import { page as metrics } from "./metrics";
import { page as iam } from "./iam";
import { page as audit } from "./audit";

// Every page of the console, in navigation order. A new page is a folder
// under pages/ whose index.ts exports `page: PageDef`, listed here.
export const pages: PageDef[] = [apps, app, releases, gateways, dns, zonePage, certificates, cache, metrics, iam, audit];

export type { PageDef } from "./types";
