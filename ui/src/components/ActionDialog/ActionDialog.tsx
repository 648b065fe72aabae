import { useEffect, useId, useRef, useState, type ReactNode } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { errorMessage } from "../../api";
import styles from "./ActionDialog.module.css";

export type ActionDialogProps = {
  title: string;
  // What the action does (a confirmation), or the form's fields.
  children: ReactNode;
  // Label of the button that runs the action ("Remove node").
  submit: string;
  danger?: boolean;
  // Runs the action; the dialog closes when it resolves and shows the
  // error when it rejects. Every query is refetched after it.
  run: () => Promise<unknown>;
  onClose: () => void;
};

// ActionDialog is a modal dialog (native <dialog>: focus is trapped in it,
// Escape cancels) that confirms an action or holds a small form, runs it,
// and shows the API's error without closing.
export function ActionDialog({ title, children, submit, danger, run, onClose }: ActionDialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const id = useId();
  const qc = useQueryClient();
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<unknown>(undefined);

  useEffect(() => {
    const d = ref.current;
    if (d && !d.open && typeof d.showModal === "function") d.showModal();
  }, []);

  return (
    <dialog ref={ref} className={styles.dialog} aria-labelledby={id + "-title"} onClose={onClose}>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setErr(undefined);
          try {
            await run();
            await qc.invalidateQueries();
            ref.current?.close();
            onClose();
          } catch (x) {
            setErr(x);
          } finally {
            setBusy(false);
          }
        }}
      >
        <h2 id={id + "-title"} className={styles.title}>
          {title}
        </h2>
        <div className={styles.body}>{children}</div>
        {err !== undefined && (
          <p role="alert" className={styles.error}>
            {errorMessage(err)}
          </p>
        )}
        <div className={styles.buttons}>
          <button type="button" onClick={() => (ref.current?.close(), onClose())}>
            Cancel
          </button>
          <button type="submit" className={danger ? styles.danger : styles.primary} disabled={busy}>
            {submit}
          </button>
        </div>
      </form>
    </dialog>
  );
}

// useActionDialog holds at most one open dialog: show(props) opens it,
// the returned element renders it.
export function useActionDialog(): [ReactNode, (p: Omit<ActionDialogProps, "onClose">) => void] {
  const [props, setProps] = useState<Omit<ActionDialogProps, "onClose"> | null>(null);
  const el = props ? <ActionDialog {...props} onClose={() => setProps(null)} /> : null;
  return [el, setProps];
}
