// Series transformations of the Metrics page: API answers into the aligned
// arrays uPlot draws (one times array, one values array per series).

export type PointLike = { unixSecond: bigint | number; value: number };

export type Aligned = { times: number[]; values: (number | null)[][] };

// alignSeries merges several series (each a list of points, any order, maybe
// missing steps) onto one ascending time axis; a step a series lacks is null
// (a gap, not a zero).
export function alignSeries(series: PointLike[][]): Aligned {
  const set = new Set<number>();
  for (const s of series) for (const p of s) set.add(Number(p.unixSecond));
  const times = [...set].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const values = series.map((s) => {
    const v: (number | null)[] = new Array(times.length).fill(null);
    for (const p of s) v[index.get(Number(p.unixSecond))!] = Number.isFinite(p.value) ? p.value : null;
    return v;
  });
  return { times, values };
}

export type TailSecond = { unixSecond: bigint | number; requests: bigint | number; status: { code: number; count: bigint | number }[] };

// LiveWindow is the last `size` seconds of a Tail stream: requests and
// responses per status class, one entry per second (seconds without traffic
// are zeros, since Tail only sends seconds that saw requests).
export type LiveWindow = { times: number[]; requests: number[]; classes: Record<string, number[]> };

export const statusClasses = ["2xx", "3xx", "4xx", "5xx"] as const;

export function statusClass(code: number): string {
  if (code >= 100 && code < 600) return `${Math.floor(code / 100)}xx`;
  return "other";
}

// liveWindow builds the window ending at `now` (a Unix second) from the
// seconds received so far (later entries of the same second replace earlier).
export function liveWindow(seconds: TailSecond[], now: number, size = 60): LiveWindow {
  const by = new Map<number, TailSecond>();
  for (const s of seconds) by.set(Number(s.unixSecond), s);
  const times: number[] = [];
  const requests: number[] = [];
  const classes: Record<string, number[]> = {};
  for (const c of statusClasses) classes[c] = [];
  for (let t = now - size + 1; t <= now; t++) {
    times.push(t);
    const s = by.get(t);
    requests.push(s ? Number(s.requests) : 0);
    const sum: Record<string, number> = {};
    for (const st of s?.status ?? []) {
      const c = statusClass(st.code);
      sum[c] = (sum[c] ?? 0) + Number(st.count);
    }
    for (const c of statusClasses) classes[c].push(sum[c] ?? 0);
  }
  return { times, requests, classes };
}

// Range is a time range of the page's picker.
export const ranges = { "5m": 300, "1h": 3600, "24h": 86400 } as const;
export type RangeKey = keyof typeof ranges;

export function isRange(s: string | null): s is RangeKey {
  return s !== null && s in ranges;
}

// rate turns counter differences into per-second rates: out[i] =
// (v[i]-v[i-1])/(t[i]-t[i-1]); the first point, a counter reset or a
// non-increasing time is null.
export function rate(times: number[], v: number[]): (number | null)[] {
  return v.map((x, i) => {
    if (i === 0) return null;
    const dt = times[i] - times[i - 1];
    const dv = x - v[i - 1];
    if (dt <= 0 || dv < 0) return null;
    return dv / dt;
  });
}
