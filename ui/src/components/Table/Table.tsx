import { useMemo, useState, type ReactNode } from "react";
import styles from "./Table.module.css";

// Column of a Table: its header, how a row renders in it, and, to make it
// sortable, the value rows sort by.
export type Column<T> = {
  key: string;
  header: string;
  cell: (row: T) => ReactNode;
  sortValue?: (row: T) => string | number | bigint;
  // Right-aligned (numbers).
  numeric?: boolean;
};

export type TableProps<T> = {
  // Accessible name of the table (visually hidden when hideCaption).
  caption: string;
  hideCaption?: boolean;
  columns: Column<T>[];
  rows: T[];
  rowKey: (row: T) => string;
  // Shown in place of the rows when there are none.
  empty?: ReactNode;
  initialSort?: { key: string; dir: "asc" | "desc" };
};

// Table is the console's data table: a real <table> with a caption, header
// cells with scope, and sort buttons that announce their state (aria-sort).
export function Table<T>({ caption, hideCaption, columns, rows, rowKey, empty, initialSort }: TableProps<T>) {
  const [sort, setSort] = useState(initialSort);
  const sorted = useMemo(() => {
    const col = sort && columns.find((c) => c.key === sort.key);
    if (!col?.sortValue) return rows;
    const v = col.sortValue;
    const out = [...rows].sort((a, b) => {
      const x = v(a);
      const y = v(b);
      return x < y ? -1 : x > y ? 1 : 0;
    });
    return sort?.dir === "desc" ? out.reverse() : out;
  }, [rows, columns, sort]);

  return (
    <div className={styles.wrap}>
      <table className={styles.table}>
        <caption className={hideCaption ? styles.srOnly : styles.caption}>{caption}</caption>
        <thead>
          <tr>
            {columns.map((c) => {
              const active = sort?.key === c.key;
              const ariaSort = active ? (sort.dir === "asc" ? "ascending" : "descending") : c.sortValue ? "none" : undefined;
              return (
                <th key={c.key} scope="col" aria-sort={ariaSort} className={c.numeric ? styles.num : undefined}>
                  {c.sortValue ? (
                    <button
                      type="button"
                      className={styles.sort}
                      onClick={() => setSort({ key: c.key, dir: active && sort.dir === "asc" ? "desc" : "asc" })}
                    >
                      {c.header}
                      <span aria-hidden="true" className={styles.arrow}>
                        {active ? (sort.dir === "asc" ? "▲" : "▼") : "↕"}
                      </span>
                    </button>
                  ) : (
                    c.header
                  )}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {sorted.length === 0 ? (
            <tr>
              <td colSpan={columns.length} className={styles.empty}>
                {empty ?? "Nothing here yet."}
              </td>
            </tr>
          ) : (
            sorted.map((r) => (
              <tr key={rowKey(r)}>
                {columns.map((c) => (
                  <td key={c.key} className={c.numeric ? styles.num : undefined}>
                    {c.cell(r)}
                  </td>
                ))}
              </tr>
            ))
          )}
        </tbody>
      </table>
    </div>
  );
}
