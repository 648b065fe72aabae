import { describe, expect, it } from "vitest";
import { daysLeft, expiryLabel, expiryTone } from "./expiry";

const now = new Date("2026-12-04T12:00:00Z");
const plus = (days: number, hours = 0) => new Date(now.getTime() + days * 86_400_000 + hours * 3_600_000);

describe("expiry", () => {
  it("counts whole days left", () => {
    expect(daysLeft(plus(90), now)).toBe(90);
    expect(daysLeft(plus(29, 23), now)).toBe(29);
    expect(expiryLabel(plus(90), now)).toBe("90 days left");
    expect(expiryLabel(plus(1, 2), now)).toBe("1 day left");
    expect(expiryLabel(plus(0, 5), now)).toBe("expires today");
    expect(expiryLabel(plus(-3), now)).toBe("expired 3 days ago");
    expect(expiryLabel(plus(0, -1), now)).toBe("expired today");
    expect(expiryLabel(undefined, now)).toBe("not issued yet");
  });
  it("highlights under 30 days and expired", () => {
    expect(expiryTone(plus(30), now)).toBe("ok");
    expect(expiryTone(plus(29, 23), now)).toBe("warn");
    expect(expiryTone(plus(0, 1), now)).toBe("warn");
    expect(expiryTone(plus(0, -1), now)).toBe("danger");
    expect(expiryTone(undefined, now)).toBe("neutral");
  });
});
