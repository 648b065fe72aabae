import { describe, expect, it } from "vitest";
import { alignSeries, liveWindow, rate, statusClass, isRange } from "./series";

describe("alignSeries", () => {
  it("aligns series on one sorted axis with gaps as null", () => {
    const a = alignSeries([
      [{ unixSecond: 20n, value: 2 }, { unixSecond: 10n, value: 1 }],
      [{ unixSecond: 30n, value: 3 }, { unixSecond: 10n, value: 5 }],
    ]);
    expect(a.times).toEqual([10, 20, 30]);
    expect(a.values).toEqual([
      [1, 2, null],
      [5, null, 3],
    ]);
  });
  it("handles no data and non-finite values", () => {
    expect(alignSeries([])).toEqual({ times: [], values: [] });
    expect(alignSeries([[{ unixSecond: 1, value: NaN }]]).values).toEqual([[null]]);
  });
});

describe("liveWindow", () => {
  it("fills missing seconds with zeros and sums status classes", () => {
    const w = liveWindow(
      [
        { unixSecond: 98n, requests: 3n, status: [{ code: 200, count: 2n }, { code: 204, count: 1n }] },
        { unixSecond: 100n, requests: 1n, status: [{ code: 503, count: 1n }] },
        { unixSecond: 100n, requests: 2n, status: [{ code: 503, count: 1n }, { code: 404, count: 1n }] },
        { unixSecond: 10n, requests: 9n, status: [] },
      ],
      100,
      4,
    );
    expect(w.times).toEqual([97, 98, 99, 100]);
    expect(w.requests).toEqual([0, 3, 0, 2]);
    expect(w.classes["2xx"]).toEqual([0, 3, 0, 0]);
    expect(w.classes["4xx"]).toEqual([0, 0, 0, 1]);
    expect(w.classes["5xx"]).toEqual([0, 0, 0, 1]);
  });
  it("classifies codes", () => {
    expect(statusClass(200)).toBe("2xx");
    expect(statusClass(599)).toBe("5xx");
    expect(statusClass(0)).toBe("other");
  });
});

describe("rate", () => {
  it("turns counters into per-second rates", () => {
    expect(rate([0, 10, 20, 30], [0, 100, 50, 150])).toEqual([null, 10, null, 10]);
  });
});

describe("isRange", () => {
  it("accepts only the picker's ranges", () => {
    expect(isRange("5m")).toBe(true);
    expect(isRange("7d")).toBe(false);
    expect(isRange(null)).toBe(false);
  });
});
