// Side-by-side diff of two app contents, for the releases page.

// readable renders API JSON (protojson with proto names) as indented
// "key: value" lines, easier to read than braces; the release number is
// dropped (it is not a change).
export function readable(json: string): string[] {
  if (!json.trim()) return [];
  const v = JSON.parse(json) as unknown;
  if (v && typeof v === "object" && !Array.isArray(v)) delete (v as Record<string, unknown>).release;
  const out: string[] = [];
  render(v, 0, out);
  return out;
}

// Strings show as they are (quoted only when empty or multi-line).
function scalar(v: unknown): string {
  if (typeof v !== "string") return String(v);
  return v === "" || v.includes("\n") ? JSON.stringify(v) : v;
}

function isScalar(v: unknown): boolean {
  return v === null || typeof v !== "object";
}

function render(v: unknown, depth: number, out: string[]) {
  const pad = "  ".repeat(depth);
  if (Array.isArray(v)) {
    for (const item of v) {
      if (isScalar(item)) {
        out.push(`${pad}- ${scalar(item)}`);
        continue;
      }
      const sub: string[] = [];
      render(item, depth + 1, sub);
      if (sub.length) sub[0] = `${pad}- ${sub[0].trimStart()}`;
      else sub.push(`${pad}- {}`);
      out.push(...sub);
    }
    return;
  }
  if (v && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) {
      if (isScalar(x)) out.push(`${pad}${k}: ${scalar(x)}`);
      else if (Array.isArray(x) && x.length === 0) out.push(`${pad}${k}: []`);
      else if (!Array.isArray(x) && Object.keys(x as object).length === 0) out.push(`${pad}${k}: {}`);
      else {
        out.push(`${pad}${k}:`);
        render(x, depth + 1, out);
      }
    }
    return;
  }
  out.push(pad + scalar(v));
}

export type Cell = { n: number; text: string };
// Row of a side-by-side diff: same (both sides), changed (both, differing),
// removed (left only), added (right only).
export type Row = { kind: "same" | "changed" | "removed" | "added"; left?: Cell; right?: Cell };

type Op = { op: "=" | "-" | "+"; a?: number; b?: number };

// lineOps is a longest-common-subsequence line diff.
function lineOps(a: string[], b: string[]): Op[] {
  const n = a.length;
  const m = b.length;
  if (n * m > 16_000_000) {
    // Too big for the table: everything changed.
    return [...a.map((_, i): Op => ({ op: "-", a: i })), ...b.map((_, j): Op => ({ op: "+", b: j }))];
  }
  const w = m + 1;
  const t = new Uint32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--) t[i * w + j] = a[i] === b[j] ? t[(i + 1) * w + j + 1] + 1 : Math.max(t[(i + 1) * w + j], t[i * w + j + 1]);
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) ops.push({ op: "=", a: i++, b: j++ });
    else if (t[(i + 1) * w + j] >= t[i * w + j + 1]) ops.push({ op: "-", a: i++ });
    else ops.push({ op: "+", b: j++ });
  }
  while (i < n) ops.push({ op: "-", a: i++ });
  while (j < m) ops.push({ op: "+", b: j++ });
  return ops;
}

// sideBySide pairs the lines of a (left, before) and b (right, after): a
// run of removed lines followed by added ones is shown as changed rows.
export function sideBySide(a: string[], b: string[]): Row[] {
  const ops = lineOps(a, b);
  const rows: Row[] = [];
  let k = 0;
  while (k < ops.length) {
    const o = ops[k];
    if (o.op === "=") {
      rows.push({ kind: "same", left: { n: o.a! + 1, text: a[o.a!] }, right: { n: o.b! + 1, text: b[o.b!] } });
      k++;
      continue;
    }
    const del: number[] = [];
    const add: number[] = [];
    while (k < ops.length && ops[k].op !== "=") {
      if (ops[k].op === "-") del.push(ops[k].a!);
      else add.push(ops[k].b!);
      k++;
    }
    for (let x = 0; x < Math.max(del.length, add.length); x++) {
      const l = x < del.length ? { n: del[x] + 1, text: a[del[x]] } : undefined;
      const r = x < add.length ? { n: add[x] + 1, text: b[add[x]] } : undefined;
      rows.push({ kind: l && r ? "changed" : l ? "removed" : "added", left: l, right: r });
    }
  }
  return rows;
}

// Shown rows: unchanged runs longer than 2*context+1 fold into a gap.
export type Shown = Row | { kind: "gap"; count: number };

export function fold(rows: Row[], context = 3): Shown[] {
  const out: Shown[] = [];
  let i = 0;
  while (i < rows.length) {
    if (rows[i].kind !== "same") {
      out.push(rows[i++]);
      continue;
    }
    let j = i;
    while (j < rows.length && rows[j].kind === "same") j++;
    const run = rows.slice(i, j);
    const head = i === 0 ? 0 : context;
    const tail = j === rows.length ? 0 : context;
    if (run.length > head + tail + 1) {
      out.push(...run.slice(0, head), { kind: "gap", count: run.length - head - tail }, ...run.slice(run.length - tail));
    } else out.push(...run);
    i = j;
  }
  return out;
}

// changedCount is the number of rows that differ.
export function changedCount(rows: Row[]): number {
  return rows.filter((r) => r.kind !== "same").length;
}
