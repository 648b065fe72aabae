import { useDeferredValue, useEffect, useId, useMemo, useRef, useState } from "react";
import { useNavigate } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import { ConfigService, DnsService } from "../../api";
import { pages } from "../../pages";
import { matchesDomain } from "../../pages/apps/AppsPage";
import { appFilter } from "../../pages/apps/filter";
import styles from "./CommandPalette.module.css";

export type PaletteItem = { id: string; label: string; hint: string; to: string };

type Named = { id: string; name: string };

// paletteItems: the pages, apps, zones and nodes that match q, pages
// first, at most 20.
export function paletteItems(
  q: string,
  apps: { id: string; name: string; domains: string[] }[],
  zones: Named[] = [],
  nodes: Named[] = [],
): PaletteItem[] {
  const s = q.trim().toLowerCase();
  const out: PaletteItem[] = [];
  for (const p of pages) {
    if (!p.label) continue;
    if (!s || p.label.toLowerCase().includes(s) || p.keywords?.some((k) => k.includes(s))) {
      out.push({ id: "page:" + p.path, label: p.label, hint: "page", to: "/" + p.path });
    }
  }
  for (const a of apps) {
    if (s && matchesDomain(a, s)) {
      out.push({ id: "app:" + a.id, label: a.name, hint: a.domains.slice(0, 3).join(", ") || "app", to: "/apps/" + a.id });
    }
  }
  for (const z of zones) {
    if (s && z.name.toLowerCase().includes(s)) out.push({ id: "zone:" + z.id, label: z.name, hint: "DNS zone", to: "/dns/" + z.id });
  }
  for (const n of nodes) {
    if (s && (n.name.toLowerCase().includes(s) || n.id.toLowerCase() === s)) {
      out.push({ id: "node:" + n.id, label: n.name, hint: "node " + n.id, to: "/gateways?node=" + encodeURIComponent(n.id) });
    }
  }
  return out.slice(0, 20);
}

// CommandPalette is a modal <dialog> (focus stays inside, Escape closes)
// with a combobox: type, move with the arrow keys, Enter to go.
export function CommandPalette({ onClose }: { onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [q, setQ] = useState("");
  const [sel, setSel] = useState(0);
  const navigate = useNavigate();
  const listId = useId();
  // Apps come from the server's domain search (ListApps filter), ten at most.
  const search = useDeferredValue(q.trim());
  const apps = useQuery(ConfigService.method.listApps, { filter: appFilter(search, false), pageSize: 10 }, { enabled: search !== "" });
  // Zones and nodes are few next to apps: one page of each, matched here.
  const zones = useQuery(DnsService.method.listZones, { pageSize: 1000 }, { enabled: search !== "" });
  const nodes = useQuery(ConfigService.method.listNodes, { pageSize: 1000 }, { enabled: search !== "" });
  const items = useMemo(
    () =>
      paletteItems(
        q,
        search ? (apps.data?.apps ?? []).filter((a) => !a.deleted) : [],
        zones.data?.zones ?? [],
        (nodes.data?.nodes ?? []).map((n) => ({ id: n.node?.id ?? "", name: n.node?.name ?? "" })),
      ),
    [q, search, apps.data, zones.data, nodes.data],
  );

  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal?.();
    return () => d?.close?.();
  }, []);
  useEffect(() => setSel(0), [q]);

  const go = (it: PaletteItem | undefined) => {
    if (!it) return;
    onClose();
    navigate(it.to);
  };
  const onKeyDown = (e: React.KeyboardEvent) => {
    if (e.key === "ArrowDown") {
      e.preventDefault();
      setSel((s) => Math.min(s + 1, items.length - 1));
    } else if (e.key === "ArrowUp") {
      e.preventDefault();
      setSel((s) => Math.max(s - 1, 0));
    } else if (e.key === "Enter") {
      e.preventDefault();
      go(items[sel]);
    }
  };

  return (
    <dialog ref={ref} className={styles.dialog} aria-label="Command palette" onClose={onClose} onClick={(e) => e.target === ref.current && onClose()}>
      <label className={styles.label} htmlFor={listId + "-input"}>
        Go to a page, or search apps by domain or name
      </label>
      <input
        id={listId + "-input"}
        className={styles.input}
        autoFocus
        role="combobox"
        aria-expanded="true"
        aria-controls={listId}
        aria-activedescendant={items[sel] ? `${listId}-${sel}` : undefined}
        aria-autocomplete="list"
        value={q}
        onChange={(e) => setQ(e.target.value)}
        onKeyDown={onKeyDown}
        placeholder="shop.example.com, releases, dns…"
      />
      <ul id={listId} role="listbox" aria-label="Results" className={styles.list}>
        {items.map((it, i) => (
          <li
            key={it.id}
            id={`${listId}-${i}`}
            role="option"
            aria-selected={i === sel}
            className={i === sel ? `${styles.item} ${styles.selected}` : styles.item}
            onMouseEnter={() => setSel(i)}
            onClick={() => go(it)}
          >
            <span>{it.label}</span>
            <span className={styles.hint}>{it.hint}</span>
          </li>
        ))}
        {items.length === 0 && <li className={styles.none}>No page or app matches “{q}”.</li>}
      </ul>
    </dialog>
  );
}
