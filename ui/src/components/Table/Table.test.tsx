import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { Table, type Column } from "./Table";

type Row = { id: string; name: string; n: number };
const rows: Row[] = [
  { id: "1", name: "bravo", n: 2 },
  { id: "2", name: "alpha", n: 10 },
  { id: "3", name: "charlie", n: 1 },
];
const columns: Column<Row>[] = [
  { key: "name", header: "Name", cell: (r) => r.name, sortValue: (r) => r.name },
  { key: "n", header: "Count", numeric: true, cell: (r) => r.n, sortValue: (r) => r.n },
  { key: "x", header: "Plain", cell: () => "-" },
];

const names = () =>
  screen
    .getAllByRole("row")
    .slice(1)
    .map((r) => within(r).getAllByRole("cell")[0].textContent);

afterEach(cleanup);

describe("Table", () => {
  it("has a caption and sorts by a column, announcing the order", () => {
    render(<Table caption="Things" columns={columns} rows={rows} rowKey={(r) => r.id} initialSort={{ key: "name", dir: "asc" }} />);
    expect(screen.getByRole("table", { name: "Things" })).toBeTruthy();
    expect(names()).toEqual(["alpha", "bravo", "charlie"]);
    const count = screen.getByRole("button", { name: /Count/ });
    fireEvent.click(count);
    expect(names()).toEqual(["charlie", "bravo", "alpha"]);
    expect(screen.getByRole("columnheader", { name: /Count/ }).getAttribute("aria-sort")).toBe("ascending");
    fireEvent.click(count);
    expect(names()).toEqual(["alpha", "bravo", "charlie"]);
    expect(screen.getByRole("columnheader", { name: /Count/ }).getAttribute("aria-sort")).toBe("descending");
    expect(screen.getByRole("columnheader", { name: "Plain" }).getAttribute("aria-sort")).toBeNull();
  });

  it("says when there is nothing", () => {
    render(<Table caption="Empty" columns={columns} rows={[]} rowKey={(r) => r.id} empty="No things." />);
    expect(screen.getByText("No things.")).toBeTruthy();
  });
});
