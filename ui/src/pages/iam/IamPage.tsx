import { Placeholder } from "../../components/Placeholder";

export function IamPage() {
  return <Placeholder title="IAM" cli={["strata user list", "strata group list", "strata role list", "strata grant list", "strata token list"]} />;
}
