import { Placeholder } from "../../components/Placeholder";

export function AuditPage() {
  return <Placeholder title="Audit" cli={["strata audit --since 1h", "strata audit --actor bob --since 1h", "strata audit --object app.APP_ID"]} />;
}
