import { Placeholder } from "../../components/Placeholder";

export function MetricsPage() {
  return <Placeholder title="Metrics" cli={["strata metrics top --app APP --by status", "strata metrics series --app APP --metric latency_p99 --since 15m", "strata metric query NAME"]} />;
}
