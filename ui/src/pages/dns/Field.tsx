import { useId, type ReactNode } from "react";
import styles from "./Dns.module.css";

// Field is a labelled input with its error underneath (aria-describedby,
// aria-invalid), for the DNS and certificate forms.
export function Field({ label, error, wide, children }: { label: string; error?: string; wide?: boolean; children: (p: { id: string; "aria-invalid"?: boolean; "aria-describedby"?: string }) => ReactNode }) {
  const id = useId();
  const errId = id + "-error";
  return (
    <div className={`${styles.field} ${wide ? styles.wide : ""}`}>
      <label htmlFor={id}>{label}</label>
      {children({ id, "aria-invalid": error ? true : undefined, "aria-describedby": error ? errId : undefined })}
      {error && (
        <span id={errId} className={styles.error}>
          {error}
        </span>
      )}
    </div>
  );
}
