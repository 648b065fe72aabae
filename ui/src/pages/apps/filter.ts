// The ListApps filter (AIP-160, docs/api.md "Filtering") of the apps page
// and the command palette.

// quote is s as a filter string literal.
export function quote(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

// appFilter: apps with a domain containing q (or a name containing it),
// with unreleased changes if asked, and matching the raw filter typed in
// the "filter" box, ANDed.
export function appFilter(q: string, unreleased: boolean, raw = ""): string {
  const parts: string[] = [];
  const s = q.trim().replace(/\*/g, "");
  // Domains are lower case; names are compared as typed.
  if (s) parts.push(`(domains:${quote(`*${s.toLowerCase()}*`)} OR name:${quote(s)})`);
  if (unreleased) parts.push("unreleased = true");
  if (raw.trim()) parts.push(`(${raw.trim()})`);
  return parts.join(" AND ");
}
