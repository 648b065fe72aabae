import { errorKind, errorMessage, requestId } from "../../api";
import styles from "./ErrorPanel.module.css";

// ErrorPanel explains a failed API call. A role that does not allow the
// call (permission_denied) gets its own clear panel: it is not a bug, and
// retrying will not help.
export function ErrorPanel({ error, what }: { error: unknown; what?: string }) {
  const kind = errorKind(error);
  const id = requestId(error);
  if (kind === "forbidden") {
    return (
      <section className={`${styles.panel} ${styles.forbidden}`} role="alert" aria-labelledby="forbidden-title">
        <h2 id="forbidden-title">Forbidden</h2>
        <p>
          Your role does not allow {what ? <>to {what}</> : "this"}. Ask an IAM administrator for a grant that covers it
          (IAM → grants).
        </p>
        <p className={styles.detail}>{errorMessage(error)}</p>
        {id && <p className={styles.detail}>Request id: {id}</p>}
      </section>
    );
  }
  return (
    <section className={styles.panel} role="alert" aria-labelledby="error-title">
      <h2 id="error-title">{kind === "not_found" ? "Not found" : kind === "unavailable" ? "The API is unavailable" : "Something went wrong"}</h2>
      <p>{what ? <>Could not {what}: </> : null}{errorMessage(error)}</p>
      {id && <p className={styles.detail}>Request id: {id}</p>}
    </section>
  );
}
