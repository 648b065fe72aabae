import type { NodeInfo } from "../../gen/strata/config/v1/config_pb";
import type { Cluster } from "../../gen/strata/config/v1/resources_pb";
import { stateLabel, syncMap, type NodeState } from "./sync";
import styles from "./GatewaysPage.module.css";

const legend: NodeState[] = ["in-sync", "behind", "offline", "pending", "disabled"];

// SyncMap shows every node as a tile in its cluster's row, coloured by its
// sync state; the tiles change as the node list is read again, so a release
// can be watched reaching every node.
export function SyncMap({ clusters, nodes, partitionName }: { clusters: Cluster[]; nodes: NodeInfo[]; partitionName: (id: string) => string }) {
  const rows = syncMap(clusters, nodes);
  return (
    <div className={styles.map} aria-label="Sync map" role="group">
      {rows.length === 0 && <p className={styles.muted}>No clusters yet.</p>}
      {rows.map((c) => (
        <div key={c.id} className={styles.mapRow} data-cluster={c.name}>
          <div>
            <div className={styles.mapName}>{c.name}</div>
            <div className={styles.mapShare}>
              {c.partitionId && <>{partitionName(c.partitionId)} · </>}
              <span data-testid={`share-${c.name}`}>{c.share.label}</span> in sync
            </div>
          </div>
          {c.tiles.length === 0 ? (
            <p className={styles.muted}>No nodes.</p>
          ) : (
            <ul className={styles.tiles} aria-label={`Nodes of ${c.name}`}>
              {c.tiles.map((t) => (
                <li key={t.id} className={`${styles.tile} ${styles[t.state]}`} title={t.title} data-state={t.state} data-node={t.name}>
                  <span className={styles.tileName}>{t.name}</span>
                  <span className={styles.tileVer}>v{t.version}</span>
                  <span className={styles.srOnly}>{stateLabel[t.state]}</span>
                </li>
              ))}
            </ul>
          )}
        </div>
      ))}
      <div className={styles.legend} aria-hidden="true">
        {legend.map((s) => (
          <span key={s}>
            <span className={`${styles.swatch} ${styles[s]}`} />
            {stateLabel[s]}
          </span>
        ))}
        <span>v applied/newest version</span>
      </div>
    </div>
  );
}
