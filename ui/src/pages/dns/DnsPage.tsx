import { Placeholder } from "../../components/Placeholder";

export function DnsPage() {
  return <Placeholder title="DNS" cli={["strata dns zone list", "strata dns record list --zone ZONE", "strata dns release create --zone ZONE"]} />;
}
