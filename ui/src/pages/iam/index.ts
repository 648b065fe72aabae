import { lazy } from "react";
import type { PageDef } from "../types";

const IamPage = lazy(() => import("./IamPage").then((m) => ({ default: m.IamPage })));

export const page: PageDef = { path: "iam", label: "IAM", keywords: ["users", "groups", "roles", "grants", "tokens"], Component: IamPage };
