import { useMemo, useState } from "react";
import { changedCount, fold, readable, sideBySide } from "./diff";
import styles from "./ReleasesPage.module.css";

// DiffView shows two app contents (API JSON) side by side: left before,
// right after, changed lines highlighted, long unchanged runs folded.
export function DiffView({ before, after, leftTitle, rightTitle, caption }: { before: string; after: string; leftTitle: string; rightTitle: string; caption: string }) {
  const [all, setAll] = useState(false);
  const rows = useMemo(() => sideBySide(readable(before), readable(after)), [before, after]);
  const shown = all ? rows : fold(rows);
  const n = changedCount(rows);
  if (n === 0) return <p className={styles.muted}>No difference.</p>;
  const mark = (k: string, side: "left" | "right") => (k === "changed" ? styles.changed : k === "removed" && side === "left" ? styles.removed : k === "added" && side === "right" ? styles.added : "");
  return (
    <div className={styles.diffWrap}>
      <table className={styles.diff}>
        <caption>
          {caption}: {n} changed {n === 1 ? "line" : "lines"}
        </caption>
        <colgroup>
          <col className={styles.lnCol} />
          <col />
          <col className={styles.lnCol} />
          <col />
        </colgroup>
        <thead>
          <tr>
            <th scope="col" colSpan={2}>
              {leftTitle}
            </th>
            <th scope="col" colSpan={2}>
              {rightTitle}
            </th>
          </tr>
        </thead>
        <tbody>
          {shown.map((r, i) =>
            r.kind === "gap" ? (
              <tr key={i} className={styles.gap}>
                <td colSpan={4}>
                  <button type="button" onClick={() => setAll(true)}>
                    {r.count} unchanged lines
                  </button>
                </td>
              </tr>
            ) : (
              <tr key={i} data-kind={r.kind}>
                <td className={styles.ln}>{r.left?.n ?? ""}</td>
                <td className={mark(r.kind, "left")}>
                  {r.left && (r.kind === "changed" || r.kind === "removed") && <span className={styles.sr}>removed: </span>}
                  <pre>{r.left?.text ?? ""}</pre>
                </td>
                <td className={styles.ln}>{r.right?.n ?? ""}</td>
                <td className={mark(r.kind, "right")}>
                  {r.right && (r.kind === "changed" || r.kind === "added") && <span className={styles.sr}>added: </span>}
                  <pre>{r.right?.text ?? ""}</pre>
                </td>
              </tr>
            ),
          )}
        </tbody>
      </table>
    </div>
  );
}
