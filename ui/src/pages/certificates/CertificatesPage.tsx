import { Placeholder } from "../../components/Placeholder";

export function CertificatesPage() {
  return <Placeholder title="Certificates" cli={["strata cert list", "strata cert upload ...", "strata cert request ..."]} />;
}
