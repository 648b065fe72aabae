import { Placeholder } from "../../components/Placeholder";

export function CachePage() {
  return <Placeholder title="Cache" cli={["strata purge url URL --wait", "strata purge prefix HOST/PATH/ --wait", "strata purge tag TAG --wait"]} />;
}
