export { CommandPalette, paletteItems, type PaletteItem } from "./CommandPalette";
