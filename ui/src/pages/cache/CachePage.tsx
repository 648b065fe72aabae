import { useState } from "react";
import { PageHeader } from "../../components/Page";
import { PurgeTab } from "./PurgeTab";
import { PushTab } from "./PushTab";
import styles from "./CachePage.module.css";

const tabs = [
  { id: "purge", label: "Purge" },
  { id: "push", label: "Push" },
] as const;

// CachePage purges cached objects from every node (by URL, prefix, host,
// tag or condition) or pushes URLs into every node's cache, and shows each
// node acknowledging it.
export function CachePage() {
  const [tab, setTab] = useState<"purge" | "push">("purge");
  return (
    <>
      <PageHeader title="Cache" description="Purge cached objects on every node, or push URLs into every node's cache, and watch each node acknowledge it." />
      <div role="tablist" aria-label="Cache actions" className={styles.tabs}>
        {tabs.map((t) => (
          <button
            key={t.id}
            type="button"
            role="tab"
            id={`tab-${t.id}`}
            aria-selected={tab === t.id}
            aria-controls={`panel-${t.id}`}
            tabIndex={tab === t.id ? 0 : -1}
            className={styles.tab}
            onClick={() => setTab(t.id)}
            onKeyDown={(e) => {
              if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
                const next = tab === "purge" ? "push" : "purge";
                setTab(next);
                document.getElementById(`tab-${next}`)?.focus();
              }
            }}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
        {tab === "purge" ? <PurgeTab /> : <PushTab />}
      </div>
    </>
  );
}
