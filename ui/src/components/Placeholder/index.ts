export { Placeholder } from "./Placeholder";
