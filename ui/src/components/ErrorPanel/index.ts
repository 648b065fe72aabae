export { ErrorPanel } from "./ErrorPanel";
