import { useEffect, useRef, useState } from "react";
import { create, clone } from "@bufbuild/protobuf";
import { client, ConfigService, errorKind, fieldViolations, type Violation } from "../../api";
import type { Action, Rule, Upstream } from "../../gen/strata/config/v1/resources_pb";
import { RateLimitAlgorithm, RateLimitExceed, RateLimitScope } from "../../gen/strata/config/v1/resources_pb";
import { ActionSchema, CacheActionSchema, ChallengeActionSchema, RateLimitActionSchema, HeaderOpsSchema, HeaderSchema, ProxyActionSchema, RedirectActionSchema, RespondActionSchema, RewriteActionSchema, RuleSchema, WeightedUpstreamSchema } from "../../gen/strata/config/v1/resources_pb";
import { AreaField, Check, FieldErrors, NumberField, SelectField, TextField, WriteError, pairsText, parsePairs, splitList } from "./forms";
import styles from "./edit.module.css";

type Kind = NonNullable<Action["action"]["case"]>;

const kinds: [Kind, string][] = [
  ["proxy", "Proxy to upstreams"],
  ["redirect", "Redirect"],
  ["respond", "Respond"],
  ["requestHeaders", "Request headers"],
  ["responseHeaders", "Response headers"],
  ["rewrite", "Rewrite"],
  ["cache", "Cache"],
  ["rateLimit", "Rate limit"],
  ["challenge", "Challenge"],
];

const algorithms: [RateLimitAlgorithm, string][] = [
  [RateLimitAlgorithm.TOKEN_BUCKET, "Token bucket"],
  [RateLimitAlgorithm.FIXED_WINDOW, "Fixed window"],
  [RateLimitAlgorithm.SLIDING_WINDOW, "Sliding window"],
];
const exceeds: [RateLimitExceed, string][] = [
  [RateLimitExceed.REJECT, "Reject (429)"],
  [RateLimitExceed.DELAY, "Delay"],
  [RateLimitExceed.LOG, "Log only"],
  [RateLimitExceed.CHALLENGE, "Challenge"],
];
const scopes: [RateLimitScope, string][] = [
  [RateLimitScope.NODE, "Per node"],
  [RateLimitScope.CLUSTER, "Cluster-wide"],
];

export function newAction(kind: Kind, upstreams: Upstream[]): Action {
  switch (kind) {
    case "proxy":
      return create(ActionSchema, { action: { case: "proxy", value: create(ProxyActionSchema, { upstreams: [create(WeightedUpstreamSchema, { upstream: upstreams[0]?.name ?? "", weight: 1 })] }) } });
    case "redirect":
      return create(ActionSchema, { action: { case: "redirect", value: create(RedirectActionSchema, { status: 302, url: "https://$host$request_uri" }) } });
    case "respond":
      return create(ActionSchema, { action: { case: "respond", value: create(RespondActionSchema, { status: 200, contentType: "text/plain" }) } });
    case "requestHeaders":
    case "responseHeaders":
      return create(ActionSchema, { action: { case: kind, value: create(HeaderOpsSchema) } });
    case "rewrite":
      return create(ActionSchema, { action: { case: "rewrite", value: create(RewriteActionSchema) } });
    case "cache":
      return create(ActionSchema, { action: { case: "cache", value: create(CacheActionSchema, { ttlS: 60 }) } });
    case "rateLimit":
      return create(ActionSchema, { action: { case: "rateLimit", value: create(RateLimitActionSchema, { name: "limit", requests: 10, periodSeconds: 1, algorithm: RateLimitAlgorithm.TOKEN_BUCKET, onExceed: RateLimitExceed.REJECT, scope: RateLimitScope.NODE }) } });
    case "challenge":
      return create(ActionSchema, { action: { case: "challenge", value: create(ChallengeActionSchema, { difficulty: 16, clearanceSeconds: 3600 }) } });
  }
}

export function newRule(upstreams: Upstream[]): Rule {
  return create(RuleSchema, { actions: upstreams.length ? [newAction("proxy", upstreams)] : [] });
}

// useValidation checks the rule as it is typed: CreateRule/UpdateRule with
// validate_only (nothing is written), 300 ms after the last keystroke; the
// API's field violations are the editor's, so the console never disagrees
// with the server. Only invalid_argument answers are violations; any other
// failure (forbidden, conflict) shows on save.
export function useValidation(appId: string, rule: Rule, isNew: boolean): { vs: Violation[]; checking: boolean; accepted: boolean } {
  const [state, setState] = useState({ vs: [] as Violation[], checking: false, accepted: false });
  const seq = useRef(0);
  useEffect(() => {
    const n = ++seq.current;
    setState((s) => ({ ...s, checking: true }));
    const t = setTimeout(async () => {
      let vs: Violation[] = [];
      let accepted = false;
      try {
        const c = client(ConfigService);
        if (isNew) await c.createRule({ appId, rule, validateOnly: true });
        else await c.updateRule({ appId, rule, validateOnly: true });
        accepted = true;
      } catch (err) {
        if (errorKind(err) === "invalid") vs = fieldViolations(err);
      }
      if (n === seq.current) setState({ vs, checking: false, accepted });
    }, 300);
    return () => clearTimeout(t);
  }, [appId, rule, isNew]);
  return state;
}

function ActionEditor({ a, i, upstreams, vs, onChange, onRemove }: { a: Action; i: number; upstreams: Upstream[]; vs: Violation[]; onChange: (a: Action) => void; onRemove: () => void }) {
  const f = `rule.actions[${i}]`;
  const edit = (fn: (x: Action) => void) => {
    const c = clone(ActionSchema, a);
    fn(c);
    onChange(c);
  };
  const v = a.action;
  const upstreamOptions: [string, string][] = [["", "(choose)"], ...upstreams.map((u): [string, string] => [u.name, u.name])];
  return (
    <fieldset className={styles.sub} aria-label={`Action ${i + 1}`}>
      <legend className={styles.muted}>Action {i + 1}</legend>
      <div className={styles.row}>
        <SelectField<Kind> label={`Action ${i + 1} type`} value={(v.case ?? "proxy") as Kind} options={kinds} onChange={(k) => onChange(newAction(k, upstreams))} />
        <button type="button" className={styles.danger} onClick={onRemove} aria-label={`Remove action ${i + 1}`}>
          Remove
        </button>
      </div>
      {v.case === "proxy" && (
        <>
          {v.value.upstreams.map((w, j) => (
            <div className={styles.row} key={j}>
              <SelectField<string> label={`Upstream ${j + 1}`} value={w.upstream} options={upstreamOptions.some(([n]) => n === w.upstream) ? upstreamOptions : [...upstreamOptions, [w.upstream, w.upstream]]} onChange={(n) => edit((x) => ((x.action.value as typeof v.value).upstreams[j].upstream = n))} field={`${f}.proxy.upstreams[${j}]`} vs={vs} />
              <NumberField label={`Weight of upstream ${j + 1}`} value={w.weight} onChange={(n) => edit((x) => ((x.action.value as typeof v.value).upstreams[j].weight = n))} />
              {v.value.upstreams.length > 1 && (
                <button type="button" aria-label={`Remove upstream ${j + 1} from action ${i + 1}`} onClick={() => edit((x) => (x.action.value as typeof v.value).upstreams.splice(j, 1))}>
                  Remove
                </button>
              )}
            </div>
          ))}
          <button type="button" onClick={() => edit((x) => (x.action.value as typeof v.value).upstreams.push(create(WeightedUpstreamSchema, { upstream: "", weight: 1 })))}>
            Add weighted upstream
          </button>
        </>
      )}
      {v.case === "redirect" && (
        <div className={styles.row}>
          <TextField label="Redirect URL" value={v.value.url} onChange={(s) => edit((x) => ((x.action.value as typeof v.value).url = s))} field={`${f}.redirect.url`} vs={vs} mono />
          <SelectField<number> label="Status" value={v.value.status || 302} options={[301, 302, 303, 307, 308].map((n): [number, string] => [n, String(n)])} onChange={(n) => edit((x) => ((x.action.value as typeof v.value).status = n))} field={`${f}.redirect.status`} vs={vs} />
        </div>
      )}
      {v.case === "respond" && (
        <div className={styles.row}>
          <NumberField label="Status" value={v.value.status} onChange={(n) => edit((x) => ((x.action.value as typeof v.value).status = n))} field={`${f}.respond.status`} vs={vs} />
          <TextField label="Content type" value={v.value.contentType} onChange={(s) => edit((x) => ((x.action.value as typeof v.value).contentType = s))} field={`${f}.respond.content_type`} vs={vs} />
          <AreaField label="Body" value={v.value.body} onChange={(s) => edit((x) => ((x.action.value as typeof v.value).body = s))} field={`${f}.respond.body`} vs={vs} />
        </div>
      )}
      {(v.case === "requestHeaders" || v.case === "responseHeaders") && (
        <div className={styles.row}>
          <AreaField label="Set (Name: value per line)" value={pairsText(v.value.set, ": ")} onChange={(s) => edit((x) => ((x.action.value as typeof v.value).set = parsePairs(s, ":")))} field={`${f}.${v.case === "requestHeaders" ? "request_headers" : "response_headers"}.set`} vs={vs} rows={2} />
          <AreaField
            label="Add (Name: value per line)"
            value={v.value.add.map((h) => `${h.name}: ${h.value}`).join("\n")}
            onChange={(s) => edit((x) => ((x.action.value as typeof v.value).add = Object.entries(parsePairs(s, ":")).map(([name, value]) => create(HeaderSchema, { name, value }))))}
            field={`${f}.${v.case === "requestHeaders" ? "request_headers" : "response_headers"}.add`}
            vs={vs}
            rows={2}
          />
          <TextField label="Remove (names)" value={v.value.remove.join(", ")} onChange={(s) => edit((x) => ((x.action.value as typeof v.value).remove = splitList(s)))} field={`${f}.${v.case === "requestHeaders" ? "request_headers" : "response_headers"}.remove`} vs={vs} />
        </div>
      )}
      {v.case === "rewrite" && (
        <div className={styles.row}>
          <TextField label="Path pattern (RE2)" value={v.value.pathRegex} onChange={(s) => edit((x) => ((x.action.value as typeof v.value).pathRegex = s))} field={`${f}.rewrite.path_regex`} vs={vs} mono />
          <TextField label="Replacement" value={v.value.pathReplacement} onChange={(s) => edit((x) => ((x.action.value as typeof v.value).pathReplacement = s))} field={`${f}.rewrite.path_replacement`} vs={vs} mono />
          <AreaField label="Set query (name=value per line)" value={pairsText(v.value.querySet)} onChange={(s) => edit((x) => ((x.action.value as typeof v.value).querySet = parsePairs(s)))} field={`${f}.rewrite.query_set`} vs={vs} rows={2} />
          <TextField label="Remove query arguments" value={v.value.queryRemove.join(", ")} onChange={(s) => edit((x) => ((x.action.value as typeof v.value).queryRemove = splitList(s)))} />
        </div>
      )}
      {v.case === "cache" && (
        <div className={styles.row}>
          <Check label="Bypass the cache" checked={v.value.bypass} onChange={(b) => edit((x) => ((x.action.value as typeof v.value).bypass = b))} />
          <NumberField label="TTL (s)" value={v.value.ttlS} onChange={(n) => edit((x) => ((x.action.value as typeof v.value).ttlS = n))} field={`${f}.cache.ttl_s`} vs={vs} />
          <Check label="Override origin headers" checked={v.value.overrideOrigin} onChange={(b) => edit((x) => ((x.action.value as typeof v.value).overrideOrigin = b))} />
          <Check label="Ignore the query in the key" checked={v.value.keyIgnoreQuery} onChange={(b) => edit((x) => ((x.action.value as typeof v.value).keyIgnoreQuery = b))} />
          <TextField label="Key query arguments" value={v.value.keyQueryArgs.join(", ")} onChange={(s) => edit((x) => ((x.action.value as typeof v.value).keyQueryArgs = splitList(s)))} field={`${f}.cache.key_query_args`} vs={vs} />
          <TextField label="Key headers" value={v.value.keyHeaders.join(", ")} onChange={(s) => edit((x) => ((x.action.value as typeof v.value).keyHeaders = splitList(s)))} field={`${f}.cache.key_headers`} vs={vs} />
          <TextField label="Key cookies" value={v.value.keyCookies.join(", ")} onChange={(s) => edit((x) => ((x.action.value as typeof v.value).keyCookies = splitList(s)))} field={`${f}.cache.key_cookies`} vs={vs} />
          <NumberField label="Stale while revalidate (s)" value={v.value.staleWhileRevalidateS} onChange={(n) => edit((x) => ((x.action.value as typeof v.value).staleWhileRevalidateS = n))} field={`${f}.cache.stale_while_revalidate_s`} vs={vs} />
        </div>
      )}
      {v.case === "rateLimit" && (
        <div className={styles.row}>
          <TextField label="Limit name" value={v.value.name} onChange={(s) => edit((x) => ((x.action.value as typeof v.value).name = s))} field={`${f}.rate_limit.name`} vs={vs} />
          <NumberField label="Requests" value={v.value.requests} onChange={(n) => edit((x) => ((x.action.value as typeof v.value).requests = n))} field={`${f}.rate_limit.requests`} vs={vs} />
          <NumberField label="Per seconds" value={v.value.periodSeconds} onChange={(n) => edit((x) => ((x.action.value as typeof v.value).periodSeconds = n))} field={`${f}.rate_limit.period_seconds`} vs={vs} />
          <NumberField label="Burst" value={v.value.burst} onChange={(n) => edit((x) => ((x.action.value as typeof v.value).burst = n))} field={`${f}.rate_limit.burst`} vs={vs} />
          <SelectField<RateLimitAlgorithm> label="Algorithm" value={v.value.algorithm || RateLimitAlgorithm.TOKEN_BUCKET} options={algorithms} onChange={(n) => edit((x) => ((x.action.value as typeof v.value).algorithm = n))} field={`${f}.rate_limit.algorithm`} vs={vs} />
          <SelectField<RateLimitExceed> label="When exceeded" value={v.value.onExceed || RateLimitExceed.REJECT} options={exceeds} onChange={(n) => edit((x) => ((x.action.value as typeof v.value).onExceed = n))} field={`${f}.rate_limit.on_exceed`} vs={vs} />
          <SelectField<RateLimitScope> label="Scope" value={v.value.scope || RateLimitScope.NODE} options={scopes} onChange={(n) => edit((x) => ((x.action.value as typeof v.value).scope = n))} field={`${f}.rate_limit.scope`} vs={vs} />
        </div>
      )}
      {v.case === "challenge" && (
        <div className={styles.row}>
          <NumberField label="Difficulty (leading zero bits)" value={v.value.difficulty} onChange={(n) => edit((x) => ((x.action.value as typeof v.value).difficulty = n))} field={`${f}.challenge.difficulty`} vs={vs} />
          <NumberField label="Clearance (s)" value={v.value.clearanceSeconds} onChange={(n) => edit((x) => ((x.action.value as typeof v.value).clearanceSeconds = n))} field={`${f}.challenge.clearance_seconds`} vs={vs} />
        </div>
      )}
      <FieldErrors vs={vs.filter((x) => x.field === f)} field={f} />
    </fieldset>
  );
}

// RuleEditor creates (no id) or replaces a page rule. The condition and
// every action are checked by the API as they are typed.
export function RuleEditor({ appId, version, initial, upstreams, onDone, onCancel, onReload }: { appId: string; version: bigint; initial: Rule; upstreams: Upstream[]; onDone: () => void; onCancel: () => void; onReload: () => void }) {
  const [r, setR] = useState(() => clone(RuleSchema, initial));
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const isNew = !initial.id;
  const live = useValidation(appId, r, isNew);
  const vs = error ? fieldViolations(error) : live.vs;
  const up = (f: (x: Rule) => void) =>
    setR((o) => {
      const c = clone(RuleSchema, o);
      f(c);
      return c;
    });

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const c = client(ConfigService);
      if (isNew) await c.createRule({ appId, expectedVersion: version, rule: r });
      else await c.updateRule({ appId, expectedVersion: version, rule: r });
      onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className={styles.form} onSubmit={submit} aria-label={isNew ? "New rule" : `Edit rule ${initial.name}`}>
      <h3>{isNew ? "New rule" : `Edit rule ${initial.name}`}</h3>
      <div className={styles.grid}>
        <TextField label="Rule name" value={r.name} onChange={(v) => up((x) => (x.name = v))} field="rule.name" vs={vs} placeholder="api" />
        <TextField label="Condition" value={r.when} onChange={(v) => (setError(undefined), up((x) => (x.when = v)))} field="rule.when" vs={vs} placeholder='Host("a.example.com") && PathPrefix("/api")' hint="Empty matches every request." wide mono />
      </div>
      <p className={styles.checking} aria-live="polite">
        {live.checking ? "Checking…" : live.accepted ? "The API accepts this rule." : ""}
      </p>
      {r.actions.map((a, i) => (
        <ActionEditor
          key={i}
          a={a}
          i={i}
          upstreams={upstreams}
          vs={vs}
          onChange={(n) => up((x) => (x.actions[i] = n))}
          onRemove={() => up((x) => x.actions.splice(i, 1))}
        />
      ))}
      <div className={styles.row}>
        <button type="button" onClick={() => up((x) => x.actions.push(newAction(upstreams.length ? "proxy" : "respond", upstreams)))}>
          Add action
        </button>
        <Check label="Last: stop evaluating further rules" checked={r.last} onChange={(v) => up((x) => (x.last = v))} />
      </div>
      <FieldErrors vs={vs.filter((x) => x.field === "rule.actions" || x.field === "rule")} field="rule.actions" />
      <WriteError error={error} what={isNew ? "create the rule" : "save the rule"} onReload={onReload} shown={["rule"]} />
      <div className={styles.buttons}>
        <button type="submit" className={styles.primary} disabled={busy}>
          {isNew ? "Create rule" : "Save rule"}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
