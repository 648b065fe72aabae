import { useSession } from "../../app/session";

// useCanEdit: whether the signed-in user may change config. The bootstrap
// token can; a user or token whose every grant is the built-in read-only
// "viewer" role (or who has none) cannot, and the console disables its
// edit buttons (the API refuses anyway: the Forbidden panel).
export function useCanEdit(): boolean {
  const { session } = useSession();
  if (session.state !== "signed-in") return false;
  if (session.me.kind === "bootstrap") return true;
  return session.me.grants.some((g) => g.role !== "viewer");
}
