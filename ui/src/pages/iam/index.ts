import type { PageDef } from "../types";
import { IamPage } from "./IamPage";

export const page: PageDef = { path: "iam", label: "IAM", keywords: ["users", "groups", "roles", "grants", "tokens"], Component: IamPage };
