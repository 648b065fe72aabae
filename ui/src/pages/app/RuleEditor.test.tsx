import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { create } from "@bufbuild/protobuf";
import { BinaryWriter, WireType, base64Encode } from "@bufbuild/protobuf/wire";
import { Code, ConnectError } from "@connectrpc/connect";
import { fieldViolations } from "../../api";
import { UpstreamSchema } from "../../gen/strata/config/v1/resources_pb";
import { RuleEditor, newRule } from "./RuleEditor";

function badRequest(vs: [string, string][]): Uint8Array {
  const w = new BinaryWriter();
  for (const [field, desc] of vs) w.tag(1, WireType.LengthDelimited).bytes(new BinaryWriter().tag(1, WireType.LengthDelimited).string(field).tag(2, WireType.LengthDelimited).string(desc).finish());
  return w.finish();
}

// The API as the rule editor sees it: CreateRule with validate_only
// answers invalid_argument naming rule.when for an unbalanced condition,
// and rule.actions[0].proxy.upstreams[0].upstream for an unknown upstream.
const calls: { path: string; body: Record<string, unknown> }[] = [];
function fakeAPI(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const path = new URL(String(input)).pathname;
  const raw = init?.body;
  const body = JSON.parse(typeof raw === "string" ? raw : raw ? new TextDecoder().decode(raw as Uint8Array) : "{}");
  calls.push({ path, body });
  const rule = body.rule ?? {};
  const vs: [string, string][] = [];
  const when = String(rule.when ?? "");
  if ((when.match(/\(/g) ?? []).length !== (when.match(/\)/g) ?? []).length) vs.push(["rule.when", 'syntax error at 12: expected ")"']);
  const target = rule.actions?.[0]?.proxy?.upstreams?.[0]?.upstream;
  if (target && target !== "web") vs.push(["rule.actions[0].proxy.upstreams[0].upstream", `upstream "${target}" does not exist`]);
  const limit = rule.actions?.[0]?.rateLimit;
  if (limit && !limit.requests) vs.push(["rule.actions[0].rate_limit.requests", "must be at least 1"]);
  if (vs.length) {
    const err = { code: "invalid_argument", message: "invalid argument", details: [{ type: "google.rpc.BadRequest", value: base64Encode(badRequest(vs), "std_raw") }] };
    return Promise.resolve(new Response(JSON.stringify(err), { status: 400, headers: { "Content-Type": "application/json" } }));
  }
  return Promise.resolve(new Response(JSON.stringify({ rule, version: "7" }), { status: 200, headers: { "Content-Type": "application/json" } }));
}

beforeEach(() => {
  calls.length = 0;
  vi.stubGlobal("fetch", vi.fn(fakeAPI));
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe("fieldViolations", () => {
  it("decodes the BadRequest detail of an invalid_argument error", () => {
    const err = new ConnectError("invalid argument", Code.InvalidArgument);
    err.details.push({ type: "google.rpc.BadRequest", value: badRequest([["rule.when", "bad"], ["rule.name", "is empty"]]) });
    expect(fieldViolations(err)).toEqual([
      { field: "rule.when", description: "bad" },
      { field: "rule.name", description: "is empty" },
    ]);
    expect(fieldViolations(new Error("x"))).toEqual([]);
  });
});

describe("RuleEditor", () => {
  it("validates the condition as it is typed with validate_only and shows the API's message under the field", async () => {
    const web = create(UpstreamSchema, { name: "web" });
    render(<RuleEditor appId="app_1" version={3n} initial={{ ...newRule([web]), name: "api" }} upstreams={[web]} onDone={() => {}} onCancel={() => {}} onReload={() => {}} />);
    await screen.findByText("The API accepts this rule.", {}, { timeout: 3000 });
    const cond = screen.getByLabelText("Condition");
    fireEvent.change(cond, { target: { value: 'PathPrefix("/api"' } });
    const msg = await screen.findByText(/syntax error at 12/, {}, { timeout: 3000 });
    expect(cond.getAttribute("aria-invalid")).toBe("true");
    expect(cond.getAttribute("aria-describedby")).toContain(msg.closest("[data-field]")!.id);
    const last = calls[calls.length - 1];
    expect(last.path).toBe("/strata.config.v1.ConfigService/CreateRule");
    expect(last.body.validateOnly).toBe(true);
    expect(last.body.expectedVersion).toBeUndefined();

    fireEvent.change(cond, { target: { value: 'PathPrefix("/api")' } });
    await waitFor(() => expect(screen.queryByText(/syntax error/)).toBeNull(), { timeout: 3000 });
    expect(cond.getAttribute("aria-invalid")).toBeNull();
  });

  it("shows a violation inside an action under that action's field", async () => {
    const web = create(UpstreamSchema, { name: "web" });
    const other = create(UpstreamSchema, { name: "gone" });
    render(<RuleEditor appId="app_1" version={3n} initial={{ ...newRule([other]), name: "api" }} upstreams={[web, other]} onDone={() => {}} onCancel={() => {}} onReload={() => {}} />);
    const msg = await screen.findByText(/upstream "gone" does not exist/, {}, { timeout: 3000 });
    expect(msg.closest("fieldset")?.getAttribute("aria-label")).toBe("Action 1");
  });
});

describe("rate limit and challenge actions", () => {
  it("edits a rate limit action, shows the API's violation under its field and sends what was chosen", async () => {
    const web = create(UpstreamSchema, { name: "web" });
    render(<RuleEditor appId="app_1" version={3n} initial={{ ...newRule([web]), name: "api" }} upstreams={[web]} onDone={() => {}} onCancel={() => {}} onReload={() => {}} />);
    fireEvent.change(screen.getByLabelText("Action 1 type"), { target: { value: "rateLimit" } });
    fireEvent.change(screen.getByLabelText("Requests"), { target: { value: "0" } });
    await screen.findByText("must be at least 1", {}, { timeout: 3000 });
    fireEvent.change(screen.getByLabelText("Requests"), { target: { value: "100" } });
    fireEvent.change(screen.getByLabelText("Scope"), { target: { value: "2" } });
    fireEvent.click(screen.getByRole("button", { name: "Create rule" }));
    await waitFor(() => expect(calls.some((c) => c.path.endsWith("/CreateRule") && !c.body.validateOnly)).toBe(true));
    const sent = calls.filter((c) => c.path.endsWith("/CreateRule") && !c.body.validateOnly).pop()!.body as { rule: { actions: { rateLimit: Record<string, unknown> }[] } };
    expect(sent.rule.actions[0].rateLimit).toMatchObject({ name: "limit", requests: 100, periodSeconds: 1, scope: "RATE_LIMIT_SCOPE_CLUSTER" });
  });

  it("offers a challenge action with its defaults", () => {
    const web = create(UpstreamSchema, { name: "web" });
    render(<RuleEditor appId="app_1" version={3n} initial={{ ...newRule([web]), name: "api" }} upstreams={[web]} onDone={() => {}} onCancel={() => {}} onReload={() => {}} />);
    fireEvent.change(screen.getByLabelText("Action 1 type"), { target: { value: "challenge" } });
    expect((screen.getByLabelText("Difficulty (leading zero bits)") as HTMLInputElement).value).toBe("16");
    expect((screen.getByLabelText("Clearance (s)") as HTMLInputElement).value).toBe("3600");
  });
});
