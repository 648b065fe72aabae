export { PageHeader, Section, Loading, Badge } from "./Page";
