// Expiry of a certificate as the list shows it: days left, and whether it
// needs attention (under 30 days, or expired).

const day = 86_400_000;

// daysLeft is the whole days from now until notAfter (negative once expired).
export function daysLeft(notAfter: Date, now: Date): number {
  return Math.floor((notAfter.getTime() - now.getTime()) / day);
}

export function expiryLabel(notAfter: Date | undefined, now: Date): string {
  if (!notAfter) return "not issued yet";
  const ms = notAfter.getTime() - now.getTime();
  if (ms <= 0) {
    const ago = Math.floor(-ms / day);
    return ago === 0 ? "expired today" : `expired ${ago} day${ago === 1 ? "" : "s"} ago`;
  }
  const d = daysLeft(notAfter, now);
  if (d === 0) return "expires today";
  return `${d} day${d === 1 ? "" : "s"} left`;
}

export type ExpiryTone = "ok" | "warn" | "danger" | "neutral";

// expiryTone highlights certificates under 30 days (warn) and expired ones
// (danger).
export function expiryTone(notAfter: Date | undefined, now: Date): ExpiryTone {
  if (!notAfter) return "neutral";
  if (notAfter.getTime() <= now.getTime()) return "danger";
  return daysLeft(notAfter, now) < 30 ? "warn" : "ok";
}
