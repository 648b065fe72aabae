export { TimeSeries, type Series, type TimeSeriesProps } from "./TimeSeries";
