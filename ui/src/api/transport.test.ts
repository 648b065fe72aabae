import { afterEach, describe, expect, it } from "vitest";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { IAMService } from "../gen/strata/iam/v1/iam_pb";
import { ConfigService } from "../gen/strata/config/v1/config_pb";
import { authInterceptor } from "./transport";
import { clearToken, getToken, onUnauthenticated, setToken } from "./auth";
import { errorKind, errorMessage } from "./errors";

// A Connect router serving IAM and config the way the API does: a bearer
// token authenticates, a missing or wrong one is unauthenticated, and
// ListApps needs a grant the token "viewer-less" lacks.
function api() {
  return createRouterTransport(
    ({ service }) => {
      const who = (h: Headers) => {
        const auth = h.get("Authorization");
        if (auth === "Bearer good" || auth === "Bearer viewer-less") return auth.slice(7);
        throw new ConnectError("invalid or expired token", Code.Unauthenticated);
      };
      service(IAMService, {
        whoAmI: (_req, ctx) => ({ name: who(ctx.requestHeader), kind: "token" }),
        login: () => {
          throw new ConnectError("wrong user name or password", Code.Unauthenticated);
        },
      });
      service(ConfigService, {
        listApps: (_req, ctx) => {
          if (who(ctx.requestHeader) !== "good") throw new ConnectError('permission denied: "viewer-less" does not hold config.app.read', Code.PermissionDenied);
          return { apps: [{ id: "app_1", name: "shop", domains: ["shop.example.com"] }] };
        },
      });
    },
    { transport: { interceptors: [authInterceptor] } },
  );
}

afterEach(() => clearToken());

describe("client layer", () => {
  it("sends the pasted token as a bearer token", async () => {
    setToken(" good \n");
    expect(getToken()).toBe("good");
    const me = await createClient(IAMService, api()).whoAmI({});
    expect(me.name).toBe("good");
    const apps = await createClient(ConfigService, api()).listApps({});
    expect(apps.apps.map((a) => a.name)).toEqual(["shop"]);
  });

  it("reports unauthenticated replies (session expiry) but not failed logins", async () => {
    const heard: string[] = [];
    const off = onUnauthenticated((m) => heard.push(m));
    try {
      setToken("expired");
      const err = await createClient(IAMService, api()).whoAmI({}).catch((e) => e);
      expect(errorKind(err)).toBe("unauthenticated");
      expect(heard).toEqual(["invalid or expired token"]);
      const login = await createClient(IAMService, api()).login({ user: "a", password: "b" }).catch((e) => e);
      expect(errorMessage(login)).toBe("wrong user name or password");
      expect(heard).toHaveLength(1);
    } finally {
      off();
    }
  });

  it("classifies permission_denied as forbidden", async () => {
    setToken("viewer-less");
    const err = await createClient(ConfigService, api()).listApps({}).catch((e) => e);
    expect(errorKind(err)).toBe("forbidden");
    expect(errorMessage(err)).toContain("config.app.read");
  });
});
