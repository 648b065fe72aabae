import { useState, type FormEvent, type ReactNode } from "react";
import { useSearchParams } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { client, IAMService, errorMessage, fieldViolations } from "../../api";
import { UserKind, type Grant, type Group, type Role, type Token, type User } from "../../gen/strata/iam/v1/iam_pb";
import { Table, type Column } from "../../components/Table";
import { ErrorPanel } from "../../components/ErrorPanel";
import { Badge, Loading, PageHeader } from "../../components/Page";
import styles from "./IamPage.module.css";

const iam = client(IAMService);

const tabs = [
  { id: "users", label: "Users" },
  { id: "groups", label: "Groups" },
  { id: "roles", label: "Roles" },
  { id: "grants", label: "Grants" },
  { id: "tokens", label: "API tokens" },
] as const;
type TabId = (typeof tabs)[number]["id"];

function fmt(t?: { seconds: bigint }): string {
  return t ? new Date(Number(t.seconds) * 1000).toLocaleString() : "";
}

// useAction runs a write, keeps its error for display and refreshes every
// query after a success.
function useAction() {
  const qc = useQueryClient();
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = async (fn: () => Promise<unknown>): Promise<boolean> => {
    setBusy(true);
    try {
      await fn();
      setError(null);
      await qc.invalidateQueries();
      return true;
    } catch (e) {
      setError(e);
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { run, error, busy, clear: () => setError(null) };
}

function ActionError({ error }: { error: unknown }) {
  if (!error) return null;
  const vs = fieldViolations(error);
  return (
    <div role="alert" className={styles.error}>
      {vs.length ? (
        <ul>
          {vs.map((v) => (
            <li key={v.field + v.description}>
              <code>{v.field}</code>: {v.description}
            </li>
          ))}
        </ul>
      ) : (
        errorMessage(error)
      )}
    </div>
  );
}

function Field({ label, children, wide }: { label: string; children: ReactNode; wide?: boolean }) {
  return (
    <label className={`${styles.field} ${wide ? styles.wide : ""}`}>
      <span>{label}</span>
      {children}
    </label>
  );
}

export function IamPage() {
  const [params, setParams] = useSearchParams();
  const t = params.get("tab");
  const tab: TabId = tabs.some((x) => x.id === t) ? (t as TabId) : "users";
  const select = (id: TabId) => setParams(id === "users" ? {} : { tab: id }, { replace: true });
  return (
    <>
      <PageHeader title="IAM" description="Who may do what: users, groups, roles, grants of roles over scopes, and API tokens." />
      <div role="tablist" aria-label="IAM" className={styles.tabs}>
        {tabs.map((x, i) => (
          <button
            key={x.id}
            type="button"
            role="tab"
            id={`tab-${x.id}`}
            aria-selected={tab === x.id}
            aria-controls={`panel-${x.id}`}
            tabIndex={tab === x.id ? 0 : -1}
            className={tab === x.id ? styles.tabOn : styles.tab}
            onClick={() => select(x.id)}
            onKeyDown={(e) => {
              const d = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
              if (!d) return;
              const n = tabs[(i + d + tabs.length) % tabs.length];
              select(n.id);
              document.getElementById(`tab-${n.id}`)?.focus();
            }}
          >
            {x.label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`} className={styles.panel}>
        {tab === "users" && <Users />}
        {tab === "groups" && <Groups />}
        {tab === "roles" && <Roles />}
        {tab === "grants" && <Grants />}
        {tab === "tokens" && <Tokens />}
      </div>
    </>
  );
}

function Users() {
  const users = useQuery(IAMService.method.listUsers, { pageSize: 1000 });
  const roles = useQuery(IAMService.method.listRoles, { pageSize: 1000 });
  const groups = useQuery(IAMService.method.listGroups, { pageSize: 1000 });
  const a = useAction();
  const [form, setForm] = useState({ name: "", displayName: "", email: "", password: "", serviceAccount: false, role: "" });
  const [pw, setPw] = useState<{ user: string; password: string } | null>(null);
  const [join, setJoin] = useState<Record<string, string>>({});
  const create = async (e: FormEvent) => {
    e.preventDefault();
    const ok = await a.run(async () => {
      await iam.createUser({ name: form.name, displayName: form.displayName, email: form.email, password: form.serviceAccount ? "" : form.password, serviceAccount: form.serviceAccount });
      if (form.role) await iam.createGrant({ user: form.name, role: form.role, scopeKind: "all" });
    });
    if (ok) setForm({ name: "", displayName: "", email: "", password: "", serviceAccount: false, role: "" });
  };
  const cols: Column<User>[] = [
    { key: "name", header: "Name", sortValue: (u) => u.name, cell: (u) => <span className={styles.mono}>{u.name}</span> },
    { key: "display", header: "Display name", cell: (u) => u.displayName },
    { key: "email", header: "Email", cell: (u) => u.email },
    { key: "kind", header: "Kind", cell: (u) => (u.kind === UserKind.SERVICE_ACCOUNT ? "service account" : `person (${u.source || "local"})`) },
    {
      key: "groups",
      header: "Groups",
      cell: (u) => (
        <span className={styles.chips}>
          {u.groups.map((g) => (
            <span key={g} className={styles.chip}>
              {g}
              <button type="button" className={styles.x} aria-label={`Remove ${u.name} from ${g}`} onClick={() => a.run(() => iam.removeGroupMembers({ group: g, users: [u.name] }))}>
                ×
              </button>
            </span>
          ))}
          {(groups.data?.groups ?? []).some((g) => !u.groups.includes(g.name)) && (
            <>
              <select aria-label={`Group to add ${u.name} to`} value={join[u.name] ?? ""} onChange={(e) => setJoin({ ...join, [u.name]: e.target.value })}>
                <option value="">add to…</option>
                {(groups.data?.groups ?? [])
                  .filter((g) => !u.groups.includes(g.name))
                  .map((g) => (
                    <option key={g.name}>{g.name}</option>
                  ))}
              </select>
              {join[u.name] && (
                <button type="button" onClick={() => a.run(() => iam.addGroupMembers({ group: join[u.name], users: [u.name] })).then(() => setJoin({ ...join, [u.name]: "" }))}>
                  Add
                </button>
              )}
            </>
          )}
        </span>
      ),
    },
    { key: "state", header: "State", cell: (u) => (u.disabled ? <Badge tone="danger">disabled</Badge> : <Badge tone="ok">active</Badge>) },
    {
      key: "actions",
      header: "Actions",
      cell: (u) => (
        <span className={styles.actions}>
          <button type="button" aria-label={`${u.disabled ? "Enable" : "Disable"} ${u.name}`} onClick={() => a.run(() => iam.setUserDisabled({ name: u.name, disabled: !u.disabled }))}>
            {u.disabled ? "Enable" : "Disable"}
          </button>
          {u.kind !== UserKind.SERVICE_ACCOUNT && u.source !== "ldap" && (
            <button type="button" aria-label={`Set password of ${u.name}`} onClick={() => setPw({ user: u.name, password: "" })}>
              Set password
            </button>
          )}
        </span>
      ),
    },
  ];
  return (
    <>
      <form className={styles.form} onSubmit={create} aria-label="Create a user">
        <h2 className={styles.formTitle}>Create a user</h2>
        <Field label="User name">
          <input value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} required autoComplete="off" />
        </Field>
        <Field label="Display name">
          <input value={form.displayName} onChange={(e) => setForm({ ...form, displayName: e.target.value })} />
        </Field>
        <Field label="Email">
          <input type="email" value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} />
        </Field>
        <Field label="Initial password">
          <input type="password" value={form.password} disabled={form.serviceAccount} autoComplete="new-password" onChange={(e) => setForm({ ...form, password: e.target.value })} />
        </Field>
        <Field label="Role over everything (optional)">
          <select value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value })}>
            <option value="">none</option>
            {(roles.data?.roles ?? []).map((r) => (
              <option key={r.name}>{r.name}</option>
            ))}
          </select>
        </Field>
        <label className={styles.check}>
          <input type="checkbox" checked={form.serviceAccount} onChange={(e) => setForm({ ...form, serviceAccount: e.target.checked })} />
          <span>Service account (tokens only)</span>
        </label>
        <div className={styles.submit}>
          <button type="submit" disabled={a.busy}>
            Create user
          </button>
        </div>
      </form>
      {pw && (
        <form
          className={styles.form}
          aria-label={`Set the password of ${pw.user}`}
          onSubmit={async (e) => {
            e.preventDefault();
            if (await a.run(() => iam.setUserPassword({ name: pw.user, password: pw.password }))) setPw(null);
          }}
        >
          <h2 className={styles.formTitle}>New password for {pw.user}</h2>
          <Field label="New password">
            <input type="password" value={pw.password} autoComplete="new-password" onChange={(e) => setPw({ ...pw, password: e.target.value })} required />
          </Field>
          <div className={styles.submit}>
            <button type="submit" disabled={a.busy}>
              Set password
            </button>
            <button type="button" onClick={() => setPw(null)}>
              Cancel
            </button>
          </div>
        </form>
      )}
      <ActionError error={a.error} />
      {users.error ? (
        <ErrorPanel error={users.error} what="list users" />
      ) : users.isPending ? (
        <Loading what="users" />
      ) : (
        <Table caption="Users" columns={cols} rows={users.data.users} rowKey={(u) => u.name} initialSort={{ key: "name", dir: "asc" }} empty="No users yet." />
      )}
    </>
  );
}

function Groups() {
  const groups = useQuery(IAMService.method.listGroups, { pageSize: 1000 });
  const users = useQuery(IAMService.method.listUsers, { pageSize: 1000 });
  const a = useAction();
  const [form, setForm] = useState({ name: "", description: "" });
  const [add, setAdd] = useState<Record<string, string>>({});
  const cols: Column<Group>[] = [
    { key: "name", header: "Name", sortValue: (g) => g.name, cell: (g) => <span className={styles.mono}>{g.name}</span> },
    { key: "desc", header: "Description", cell: (g) => g.description },
    {
      key: "members",
      header: "Members",
      cell: (g) => (
        <span className={styles.chips}>
          {g.members.map((m) => (
            <span key={m} className={styles.chip}>
              {m}
              <button type="button" className={styles.x} aria-label={`Remove ${m} from ${g.name}`} onClick={() => a.run(() => iam.removeGroupMembers({ group: g.name, users: [m] }))}>
                ×
              </button>
            </span>
          ))}
          <select aria-label={`User to add to ${g.name}`} value={add[g.name] ?? ""} onChange={(e) => setAdd({ ...add, [g.name]: e.target.value })}>
            <option value="">add…</option>
            {(users.data?.users ?? [])
              .filter((u) => !g.members.includes(u.name))
              .map((u) => (
                <option key={u.name}>{u.name}</option>
              ))}
          </select>
          {add[g.name] && (
            <button type="button" onClick={() => a.run(() => iam.addGroupMembers({ group: g.name, users: [add[g.name]] })).then(() => setAdd({ ...add, [g.name]: "" }))}>
              Add
            </button>
          )}
        </span>
      ),
    },
    {
      key: "actions",
      header: "Actions",
      cell: (g) => (
        <button type="button" aria-label={`Delete the group ${g.name}`} onClick={() => window.confirm(`Delete the group ${g.name}?`) && a.run(() => iam.deleteGroup({ name: g.name }))}>
          Delete
        </button>
      ),
    },
  ];
  return (
    <>
      <form
        className={styles.form}
        aria-label="Create a group"
        onSubmit={async (e) => {
          e.preventDefault();
          if (await a.run(() => iam.createGroup(form))) setForm({ name: "", description: "" });
        }}
      >
        <h2 className={styles.formTitle}>Create a group</h2>
        <Field label="Group name">
          <input value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} required />
        </Field>
        <Field label="Description">
          <input value={form.description} onChange={(e) => setForm({ ...form, description: e.target.value })} />
        </Field>
        <div className={styles.submit}>
          <button type="submit" disabled={a.busy}>
            Create group
          </button>
        </div>
      </form>
      <ActionError error={a.error} />
      {groups.error ? (
        <ErrorPanel error={groups.error} what="list groups" />
      ) : groups.isPending ? (
        <Loading what="groups" />
      ) : (
        <Table caption="Groups" columns={cols} rows={groups.data.groups} rowKey={(g) => g.name} empty="No groups yet." />
      )}
    </>
  );
}

function Roles() {
  const roles = useQuery(IAMService.method.listRoles, { pageSize: 1000 });
  const perms = useQuery(IAMService.method.listPermissions, { pageSize: 1000 });
  const a = useAction();
  const [edit, setEdit] = useState<{ name: string; description: string; permissions: string[]; existing: boolean } | null>(null);
  const cols: Column<Role>[] = [
    { key: "name", header: "Name", sortValue: (r) => r.name, cell: (r) => <span className={styles.mono}>{r.name}</span> },
    { key: "desc", header: "Description", cell: (r) => r.description },
    { key: "kind", header: "Kind", cell: (r) => (r.builtIn ? <Badge>built-in</Badge> : <Badge tone="info">custom</Badge>) },
    { key: "perms", header: "Permissions", cell: (r) => <span className={styles.perms}>{r.permissions.join(", ")}</span> },
    {
      key: "actions",
      header: "Actions",
      cell: (r) =>
        r.builtIn ? null : (
          <span className={styles.actions}>
            <button type="button" aria-label={`Edit the role ${r.name}`} onClick={() => setEdit({ name: r.name, description: r.description, permissions: [...r.permissions], existing: true })}>
              Edit
            </button>
            <button type="button" aria-label={`Delete the role ${r.name}`} onClick={() => window.confirm(`Delete the role ${r.name}?`) && a.run(() => iam.deleteRole({ name: r.name }))}>
              Delete
            </button>
          </span>
        ),
    },
  ];
  const toggle = (p: string) => edit && setEdit({ ...edit, permissions: edit.permissions.includes(p) ? edit.permissions.filter((x) => x !== p) : [...edit.permissions, p] });
  return (
    <>
      {!edit && (
        <p>
          <button type="button" onClick={() => setEdit({ name: "", description: "", permissions: [], existing: false })}>
            New role
          </button>
        </p>
      )}
      {edit && (
        <form
          className={styles.form}
          aria-label={edit.existing ? `Edit the role ${edit.name}` : "Create a role"}
          onSubmit={async (e) => {
            e.preventDefault();
            const req = { name: edit.name, description: edit.description, permissions: edit.permissions };
            if (await a.run(() => (edit.existing ? iam.updateRole(req) : iam.createRole(req)))) setEdit(null);
          }}
        >
          <h2 className={styles.formTitle}>{edit.existing ? `Edit ${edit.name}` : "Create a role"}</h2>
          <Field label="Role name">
            <input value={edit.name} disabled={edit.existing} onChange={(e) => setEdit({ ...edit, name: e.target.value })} required />
          </Field>
          <Field label="Description">
            <input value={edit.description} onChange={(e) => setEdit({ ...edit, description: e.target.value })} />
          </Field>
          <fieldset className={`${styles.wide} ${styles.permList}`}>
            <legend>Permissions</legend>
            {perms.error ? <ErrorPanel error={perms.error} what="list permissions" /> : null}
            {(perms.data?.permissions ?? []).map((p) => (
              <label key={p.name} className={styles.check} title={p.procedures.join("\n")}>
                <input type="checkbox" checked={edit.permissions.includes(p.name)} onChange={() => toggle(p.name)} />
                <span className={styles.mono}>{p.name}</span>
              </label>
            ))}
          </fieldset>
          <div className={styles.submit}>
            <button type="submit" disabled={a.busy}>
              {edit.existing ? "Save role" : "Create role"}
            </button>
            <button type="button" onClick={() => setEdit(null)}>
              Cancel
            </button>
          </div>
        </form>
      )}
      <ActionError error={a.error} />
      {roles.error ? (
        <ErrorPanel error={roles.error} what="list roles" />
      ) : roles.isPending ? (
        <Loading what="roles" />
      ) : (
        <Table caption="Roles" columns={cols} rows={roles.data.roles} rowKey={(r) => r.name} />
      )}
    </>
  );
}

const scopeKinds = ["all", "partition", "app", "dns_zone"];

function Grants() {
  const grants = useQuery(IAMService.method.listGrants, { pageSize: 1000 });
  const roles = useQuery(IAMService.method.listRoles, { pageSize: 1000 });
  const a = useAction();
  const empty = { who: "user", subject: "", role: "", scopeKind: "all", scopeObject: "" };
  const [form, setForm] = useState(empty);
  const cols: Column<Grant>[] = [
    { key: "who", header: "Who", sortValue: (g) => g.user || g.group, cell: (g) => (g.user ? <>user <span className={styles.mono}>{g.user}</span></> : <>group <span className={styles.mono}>{g.group}</span></>) },
    { key: "role", header: "Role", sortValue: (g) => g.role, cell: (g) => <span className={styles.mono}>{g.role}</span> },
    { key: "scope", header: "Scope", cell: (g) => (!g.scope || g.scope.kind === "all" ? "everything" : `${g.scope.kind} ${g.scope.name || g.scope.id}`) },
    { key: "by", header: "Granted by", cell: (g) => <>{g.createdBy} <span className={styles.muted}>{fmt(g.createdAt)}</span></> },
    {
      key: "actions",
      header: "Actions",
      cell: (g) => (
        <button type="button" aria-label={`Delete the grant of ${g.role} to ${g.user || g.group}`} onClick={() => window.confirm("Delete this grant?") && a.run(() => iam.deleteGrant({ id: g.id }))}>
          Delete
        </button>
      ),
    },
  ];
  return (
    <>
      <form
        className={styles.form}
        aria-label="Grant a role"
        onSubmit={async (e) => {
          e.preventDefault();
          const ok = await a.run(() =>
            iam.createGrant({ user: form.who === "user" ? form.subject : "", group: form.who === "group" ? form.subject : "", role: form.role, scopeKind: form.scopeKind, scopeObject: form.scopeKind === "all" ? "" : form.scopeObject }),
          );
          if (ok) setForm(empty);
        }}
      >
        <h2 className={styles.formTitle}>Grant a role</h2>
        <Field label="To a">
          <select value={form.who} onChange={(e) => setForm({ ...form, who: e.target.value })}>
            <option value="user">user</option>
            <option value="group">group</option>
          </select>
        </Field>
        <Field label={form.who === "user" ? "User name" : "Group name"}>
          <input value={form.subject} onChange={(e) => setForm({ ...form, subject: e.target.value })} required />
        </Field>
        <Field label="Role">
          <select value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value })} required>
            <option value="">choose…</option>
            {(roles.data?.roles ?? []).map((r) => (
              <option key={r.name}>{r.name}</option>
            ))}
          </select>
        </Field>
        <Field label="Scope">
          <select value={form.scopeKind} onChange={(e) => setForm({ ...form, scopeKind: e.target.value })}>
            {scopeKinds.map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>
        </Field>
        {form.scopeKind !== "all" && (
          <Field label="Object (id or name)">
            <input value={form.scopeObject} onChange={(e) => setForm({ ...form, scopeObject: e.target.value })} />
          </Field>
        )}
        <div className={styles.submit}>
          <button type="submit" disabled={a.busy}>
            Grant
          </button>
        </div>
      </form>
      <ActionError error={a.error} />
      {grants.error ? (
        <ErrorPanel error={grants.error} what="list grants" />
      ) : grants.isPending ? (
        <Loading what="grants" />
      ) : (
        <Table caption="Grants" columns={cols} rows={grants.data.grants} rowKey={(g) => g.id} empty="No grants yet." />
      )}
    </>
  );
}

function Tokens() {
  const tokens = useQuery(IAMService.method.listTokens, { user: "*", includeRevoked: true, pageSize: 1000 });
  const a = useAction();
  const [form, setForm] = useState({ description: "", user: "", ttlHours: "" });
  const [secret, setSecret] = useState<{ id: string; secret: string } | null>(null);
  const [copied, setCopied] = useState(false);
  const cols: Column<Token>[] = [
    { key: "id", header: "Id", cell: (t) => <span className={styles.mono}>{t.id}</span> },
    { key: "desc", header: "Description", cell: (t) => t.description },
    { key: "user", header: "Acts as", sortValue: (t) => t.user, cell: (t) => <span className={styles.mono}>{t.user}</span> },
    { key: "created", header: "Created", cell: (t) => <>{fmt(t.createdAt)} <span className={styles.muted}>by {t.createdBy}</span></> },
    { key: "expires", header: "Expires", cell: (t) => (t.expiresAt ? fmt(t.expiresAt) : "never") },
    { key: "used", header: "Last used", cell: (t) => (t.lastUsedAt ? fmt(t.lastUsedAt) : <span className={styles.muted}>never</span>) },
    { key: "state", header: "State", cell: (t) => (t.revoked ? <Badge tone="danger">revoked</Badge> : t.expired ? <Badge tone="warn">expired</Badge> : <Badge tone="ok">active</Badge>) },
    {
      key: "actions",
      header: "Actions",
      cell: (t) =>
        t.revoked ? null : (
          <button type="button" aria-label={`Revoke the token ${t.id}`} onClick={() => window.confirm(`Revoke the token ${t.id}?`) && a.run(() => iam.revokeToken({ id: t.id }))}>
            Revoke
          </button>
        ),
    },
  ];
  return (
    <>
      <form
        className={styles.form}
        aria-label="Create an API token"
        onSubmit={async (e) => {
          e.preventDefault();
          const ttl = Math.round(Number(form.ttlHours || 0) * 3600);
          let res: { token?: Token; secret: string } | undefined;
          const ok = await a.run(async () => {
            res = await iam.createToken({ description: form.description, user: form.user, ttlSeconds: BigInt(Number.isFinite(ttl) && ttl > 0 ? ttl : 0) });
          });
          if (ok && res) {
            setSecret({ id: res.token?.id ?? "", secret: res.secret });
            setCopied(false);
            setForm({ description: "", user: "", ttlHours: "" });
          }
        }}
      >
        <h2 className={styles.formTitle}>Create an API token</h2>
        <Field label="Description">
          <input value={form.description} onChange={(e) => setForm({ ...form, description: e.target.value })} required />
        </Field>
        <Field label="Service account (empty: yourself)">
          <input value={form.user} onChange={(e) => setForm({ ...form, user: e.target.value })} />
        </Field>
        <Field label="Lifetime in hours (empty: never expires)">
          <input type="number" min={0} step="any" value={form.ttlHours} onChange={(e) => setForm({ ...form, ttlHours: e.target.value })} />
        </Field>
        <div className={styles.submit}>
          <button type="submit" disabled={a.busy}>
            Create token
          </button>
        </div>
      </form>
      {secret && (
        <div className={styles.secret} role="status">
          <p>
            The secret of token <code>{secret.id}</code>, shown only now: copy it, then pass it as <code>Authorization: Bearer …</code>.
          </p>
          <div className={styles.secretRow}>
            <input readOnly value={secret.secret} aria-label="Token secret" className={styles.mono} onFocus={(e) => e.target.select()} />
            <button
              type="button"
              onClick={async () => {
                try {
                  await navigator.clipboard.writeText(secret.secret);
                  setCopied(true);
                } catch {
                  setCopied(false);
                }
              }}
            >
              {copied ? "Copied" : "Copy"}
            </button>
            <button type="button" onClick={() => setSecret(null)}>
              Done
            </button>
          </div>
        </div>
      )}
      <ActionError error={a.error} />
      {tokens.error ? (
        <ErrorPanel error={tokens.error} what="list tokens" />
      ) : tokens.isPending ? (
        <Loading what="tokens" />
      ) : (
        <Table caption="API tokens" columns={cols} rows={tokens.data.tokens} rowKey={(t) => t.id} empty="No tokens." />
      )}
    </>
  );
}
