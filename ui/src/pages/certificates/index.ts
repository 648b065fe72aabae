import type { PageDef } from "../types";
import { CertificatesPage } from "./CertificatesPage";

export const page: PageDef = { path: "certificates", label: "Certificates", keywords: ["tls", "acme", "expiry"], Component: CertificatesPage };
