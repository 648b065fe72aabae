import { useState } from "react";
import { ConfigService, client } from "../../api";
import type { Cluster, ClusterLocation } from "../../gen/strata/config/v1/resources_pb";
import { ActionDialog } from "../../components/ActionDialog";
import styles from "./GatewaysPage.module.css";

const continents = ["", "EU", "NA", "SA", "AS", "AF", "OC", "AN"];

// locationText is "DE, EU (50.11, 8.68)"; "" when unknown.
export function locationText(l: ClusterLocation | undefined): string {
  if (!l) return "";
  const where = [l.country, l.continent].filter(Boolean).join(", ");
  const at = l.latitude || l.longitude ? `(${l.latitude.toFixed(2)}, ${l.longitude.toFixed(2)})` : "";
  return [where, at].filter(Boolean).join(" ");
}

// ClusterEditor edits a cluster's name, DNS, parent tiers (in order of
// preference, other clusters of its partition) and location.
export function ClusterEditor({ cluster, clusters, onClose }: { cluster: Cluster; clusters: Cluster[]; onClose: () => void }) {
  const [name, setName] = useState(cluster.name);
  const [dns, setDns] = useState(!cluster.dnsDisabled);
  const [parents, setParents] = useState<string[]>(cluster.parentClusterIds);
  const [country, setCountry] = useState(cluster.location?.country ?? "");
  const [continent, setContinent] = useState(cluster.location?.continent ?? "");
  const [lat, setLat] = useState(cluster.location?.latitude ? String(cluster.location.latitude) : "");
  const [lon, setLon] = useState(cluster.location?.longitude ? String(cluster.location.longitude) : "");
  const candidates = clusters.filter((c) => c.partitionId === cluster.partitionId && c.id !== cluster.id);

  const toggle = (id: string, on: boolean) => setParents((ps) => (on ? [...ps.filter((p) => p !== id), id] : ps.filter((p) => p !== id)));

  const run = async () => {
    const latitude = lat.trim() === "" ? 0 : Number(lat);
    const longitude = lon.trim() === "" ? 0 : Number(lon);
    if (!Number.isFinite(latitude) || latitude < -90 || latitude > 90) throw new Error("latitude: a number from -90 to 90");
    if (!Number.isFinite(longitude) || longitude < -180 || longitude > 180) throw new Error("longitude: a number from -180 to 180");
    await client(ConfigService).updateCluster({
      cluster: cluster.id,
      name: name.trim() !== cluster.name ? name.trim() : undefined,
      dnsDisabled: !dns,
      parents: { clusters: parents },
      location: { country: country.trim().toUpperCase(), continent, latitude, longitude },
    });
  };

  return (
    <ActionDialog title={`Edit cluster ${cluster.name}`} submit="Save cluster" run={run} onClose={onClose}>
      <label className={styles.field}>
        <span>Name</span>
        <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={63} />
      </label>
      <label className={styles.check}>
        <input type="checkbox" checked={dns} onChange={(e) => setDns(e.target.checked)} />
        <span>Nodes answer DNS</span>
      </label>
      <fieldset className={styles.fieldset}>
        <legend>Parent tiers (tiered cache, in the order checked)</legend>
        {candidates.length === 0 && <span className={styles.muted}>No other cluster in this partition.</span>}
        {candidates.map((c) => (
          <label key={c.id} className={styles.check}>
            <input type="checkbox" checked={parents.includes(c.id)} onChange={(e) => toggle(c.id, e.target.checked)} />
            <span>
              {c.name}
              {parents.includes(c.id) && <span className={styles.muted}> (#{parents.indexOf(c.id) + 1})</span>}
            </span>
          </label>
        ))}
      </fieldset>
      <fieldset className={styles.fieldset}>
        <legend>Location (for GSLB)</legend>
        <div className={styles.grid2}>
          <label className={styles.field}>
            <span>Country (ISO code)</span>
            <input value={country} onChange={(e) => setCountry(e.target.value)} maxLength={2} placeholder="DE" />
          </label>
          <label className={styles.field}>
            <span>Continent</span>
            <select value={continent} onChange={(e) => setContinent(e.target.value)}>
              {continents.map((c) => (
                <option key={c} value={c}>
                  {c || "unknown"}
                </option>
              ))}
            </select>
          </label>
          <label className={styles.field}>
            <span>Latitude</span>
            <input value={lat} onChange={(e) => setLat(e.target.value)} inputMode="decimal" placeholder="50.11" />
          </label>
          <label className={styles.field}>
            <span>Longitude</span>
            <input value={lon} onChange={(e) => setLon(e.target.value)} inputMode="decimal" placeholder="8.68" />
          </label>
        </div>
      </fieldset>
    </ActionDialog>
  );
}
