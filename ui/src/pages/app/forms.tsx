import { useId, type ReactNode } from "react";
import { errorKind, errorMessage, fieldViolations, isConflict, violationsUnder, type Violation } from "../../api";
import { ErrorPanel } from "../../components/ErrorPanel";
import styles from "./forms.module.css";

// Form building blocks of the app and releases pages: labelled fields that
// show the API's field violations under them, and the answer to a failed write.

// FieldErrors lists the violations of field (and of what is inside it).
export function FieldErrors({ vs, field, id }: { vs: Violation[]; field: string; id?: string }) {
  const mine = violationsUnder(vs, field);
  if (!mine.length) return null;
  return (
    <div id={id} aria-live="polite" data-field={field}>
      <ul className={styles.errors}>
        {mine.map((v, i) => (
          <li key={i}>
            {v.field !== field && <code>{v.field}</code>} {v.description}
          </li>
        ))}
      </ul>
    </div>
  );
}

type FieldProps = {
  label: string;
  // The request field whose violations show under the input.
  field?: string;
  vs?: Violation[];
  hint?: ReactNode;
  children: (id: string, describedBy: string | undefined, invalid: boolean) => ReactNode;
  wide?: boolean;
};

// Field is a label, its input (rendered by children with the ids to use),
// a hint and the violations of the API for it.
export function Field({ label, field, vs = [], hint, children, wide }: FieldProps) {
  const id = useId();
  const errId = id + "-err";
  const hintId = id + "-hint";
  const invalid = !!field && violationsUnder(vs, field).length > 0;
  const describedBy = [hint ? hintId : "", invalid ? errId : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div className={wide ? `${styles.field} ${styles.wide}` : styles.field}>
      <label htmlFor={id}>{label}</label>
      {children(id, describedBy, invalid)}
      {hint && (
        <span id={hintId} className={styles.hint}>
          {hint}
        </span>
      )}
      {field && <FieldErrors vs={vs} field={field} id={errId} />}
    </div>
  );
}

export function TextField(p: { label: string; value: string; onChange: (v: string) => void; field?: string; vs?: Violation[]; hint?: ReactNode; placeholder?: string; wide?: boolean; mono?: boolean; disabled?: boolean; type?: string }) {
  return (
    <Field label={p.label} field={p.field} vs={p.vs} hint={p.hint} wide={p.wide}>
      {(id, d, invalid) => (
        <input id={id} type={p.type ?? "text"} value={p.value} placeholder={p.placeholder} aria-describedby={d} aria-invalid={invalid || undefined} className={p.mono ? styles.mono : undefined} disabled={p.disabled} onChange={(e) => p.onChange(e.target.value)} />
      )}
    </Field>
  );
}

export function NumberField(p: { label: string; value: number; onChange: (v: number) => void; field?: string; vs?: Violation[]; hint?: ReactNode; disabled?: boolean; min?: number }) {
  return (
    <Field label={p.label} field={p.field} vs={p.vs} hint={p.hint}>
      {(id, d, invalid) => (
        <input id={id} type="number" min={p.min ?? 0} value={String(p.value)} aria-describedby={d} aria-invalid={invalid || undefined} disabled={p.disabled} onChange={(e) => p.onChange(Math.max(0, Math.floor(Number(e.target.value) || 0)))} />
      )}
    </Field>
  );
}

export function AreaField(p: { label: string; value: string; onChange: (v: string) => void; field?: string; vs?: Violation[]; hint?: ReactNode; rows?: number; disabled?: boolean }) {
  return (
    <Field label={p.label} field={p.field} vs={p.vs} hint={p.hint} wide>
      {(id, d, invalid) => <textarea id={id} rows={p.rows ?? 3} value={p.value} aria-describedby={d} aria-invalid={invalid || undefined} className={styles.mono} disabled={p.disabled} onChange={(e) => p.onChange(e.target.value)} />}
    </Field>
  );
}

export function Check({ label, checked, onChange, disabled }: { label: string; checked: boolean; onChange: (v: boolean) => void; disabled?: boolean }) {
  return (
    <label className={styles.check}>
      <input type="checkbox" checked={checked} disabled={disabled} onChange={(e) => onChange(e.target.checked)} />
      <span>{label}</span>
    </label>
  );
}

export function SelectField<T extends string | number>(p: { label: string; value: T; options: [T, string][]; onChange: (v: T) => void; field?: string; vs?: Violation[]; disabled?: boolean }) {
  return (
    <Field label={p.label} field={p.field} vs={p.vs}>
      {(id, d) => (
        <select id={id} value={String(p.value)} aria-describedby={d} disabled={p.disabled} onChange={(e) => p.onChange(p.options.find(([v]) => String(v) === e.target.value)![0])}>
          {p.options.map(([v, l]) => (
            <option key={String(v)} value={String(v)}>
              {l}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

// WriteError answers a failed write: a conflict (someone else changed the
// object since it was read) offers a reload; forbidden is the Forbidden
// panel; invalid input lists the violations no field shows.
export function WriteError({ error, what, onReload, shown = [] }: { error: unknown; what: string; onReload?: () => void; shown?: string[] }) {
  if (!error) return null;
  if (isConflict(error)) {
    return (
      <div className={styles.conflict} role="alert">
        <strong>Changed by someone else, reload.</strong> {errorMessage(error)}{" "}
        {onReload && (
          <button type="button" onClick={onReload}>
            Reload
          </button>
        )}
      </div>
    );
  }
  if (errorKind(error) === "invalid") {
    const rest = fieldViolations(error).filter((v) => !shown.some((f) => v.field === f || v.field.startsWith(f + ".") || v.field.startsWith(f + "[")));
    return (
      <div className={styles.invalid} role="alert">
        <strong>Could not {what}:</strong> {errorMessage(error)}
        {rest.length > 0 && (
          <ul>
            {rest.map((v, i) => (
              <li key={i}>
                <code>{v.field}</code> {v.description}
              </li>
            ))}
          </ul>
        )}
      </div>
    );
  }
  return <ErrorPanel error={error} what={what} />;
}

// Lists typed in text: one item per line or comma.
export function splitList(s: string): string[] {
  return s
    .split(/[\n,]/)
    .map((x) => x.trim())
    .filter(Boolean);
}

export function parsePorts(s: string): number[] {
  return splitList(s).map((x) => Number(x) || 0);
}

// "key=value" lines.
export function parsePairs(s: string, sep = "="): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of s.split("\n")) {
    const t = line.trim();
    if (!t) continue;
    const i = t.indexOf(sep);
    if (i < 0) out[t] = "";
    else out[t.slice(0, i).trim()] = t.slice(i + sep.length).trim();
  }
  return out;
}

export function pairsText(m: Record<string, string>, sep = "="): string {
  return Object.entries(m)
    .map(([k, v]) => `${k}${sep}${v}`)
    .join("\n");
}
