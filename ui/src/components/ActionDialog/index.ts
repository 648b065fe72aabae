export { ActionDialog, useActionDialog, type ActionDialogProps } from "./ActionDialog";
