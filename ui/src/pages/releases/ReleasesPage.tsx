import { Placeholder } from "../../components/Placeholder";

export function ReleasesPage() {
  return <Placeholder title="Releases" cli={["strata release list --app APP", "strata app diff APP", "strata release create --app APP --note NOTE", "strata release revert --app APP --to N"]} />;
}
