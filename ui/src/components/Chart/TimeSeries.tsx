import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import styles from "./TimeSeries.module.css";

export type Series = { label: string; values: (number | null)[]; color?: string };

export type TimeSeriesProps = {
  // Accessible name of the chart (role="img"); a table of the same data
  // beside it is the accessible alternative for the numbers.
  title: string;
  // Seconds since the epoch, ascending.
  times: number[];
  series: Series[];
  height?: number;
  // Unit shown on the y axis, e.g. "req/s" or "ms".
  unit?: string;
};

const palette = ["#1f4fd1", "#d14f1f", "#1c8a4a", "#8a1cb0", "#b08a1c", "#1c8ab0"];

// TimeSeries is the console's time-series chart (uPlot: canvas, small,
// fast with many points), sized to its container's width. uPlot styles
// through the CSSOM only, which the console's CSP allows.
export function TimeSeries({ title, times, series, height = 220, unit }: TimeSeriesProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: el.clientWidth || 600,
      height,
      series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: s.color ?? palette[i % palette.length], width: 1.5 }))],
      axes: [{}, { label: unit, size: 60 }],
      legend: { live: true },
    };
    plot.current = new uPlot(opts, [times, ...series.map((s) => s.values)] as uPlot.AlignedData, el);
    const ro = new ResizeObserver(() => plot.current?.setSize({ width: el.clientWidth, height }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // Rebuilt when the set of series changes; data updates go through setData.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [height, unit, series.map((s) => s.label).join("\u0000")]);

  useEffect(() => {
    plot.current?.setData([times, ...series.map((s) => s.values)] as uPlot.AlignedData);
  }, [times, series]);

  return <div ref={box} className={styles.chart} role="img" aria-label={title} />;
}
