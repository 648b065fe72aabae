import { Placeholder } from "../../components/Placeholder";

export function GatewaysPage() {
  return <Placeholder title="Gateways" cli={["strata partition list", "strata cluster list", "strata node list", "strata node approve NODE"]} />;
}
