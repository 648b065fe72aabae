import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { useQueryClient } from "@tanstack/react-query";
import type { WhoAmIResponse } from "../gen/strata/iam/v1/iam_pb";
import { IAMService, client, clearToken, errorKind, errorMessage, onUnauthenticated, setToken } from "../api";

// Session is who is signed in, and how to sign in and out.
export type Session =
  | { state: "checking" }
  | { state: "anonymous"; message?: string }
  | { state: "signed-in"; me: WhoAmIResponse; via: "password" | "token" };

type SessionAPI = {
  session: Session;
  loginWithPassword(user: string, password: string): Promise<void>;
  loginWithToken(token: string): Promise<void>;
  logout(): Promise<void>;
};

const Ctx = createContext<SessionAPI | null>(null);

export const expiredMessage = "Your session has expired or was revoked. Sign in again.";

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session>({ state: "checking" });
  const qc = useQueryClient();
  const iam = useMemo(() => client(IAMService), []);

  // The first load: a cookie session or a token kept in this tab.
  useEffect(() => {
    let live = true;
    iam.whoAmI({}).then(
      (me) => live && setSession({ state: "signed-in", me, via: me.kind === "user" ? "password" : "token" }),
      (err) => {
        if (!live) return;
        clearToken();
        setSession({ state: "anonymous", message: errorKind(err) === "unauthenticated" ? undefined : errorMessage(err) });
      },
    );
    return () => {
      live = false;
    };
  }, [iam]);

  // Any call refused as unauthenticated ends the session.
  useEffect(
    () =>
      onUnauthenticated(() => {
        clearToken();
        qc.clear();
        setSession((s) => (s.state === "signed-in" ? { state: "anonymous", message: expiredMessage } : s));
      }),
    [qc],
  );

  const loginWithPassword = useCallback(
    async (user: string, password: string) => {
      clearToken();
      await iam.login({ user, password });
      const me = await iam.whoAmI({});
      qc.clear();
      setSession({ state: "signed-in", me, via: "password" });
    },
    [iam, qc],
  );

  const loginWithToken = useCallback(
    async (token: string) => {
      setToken(token);
      try {
        const me = await iam.whoAmI({});
        qc.clear();
        setSession({ state: "signed-in", me, via: "token" });
      } catch (err) {
        clearToken();
        throw err;
      }
    },
    [iam, qc],
  );

  const logout = useCallback(async () => {
    try {
      await iam.logout({}); // ends a password session and clears its cookie
    } catch {
      // signed out locally whatever the server says
    }
    clearToken();
    qc.clear();
    setSession({ state: "anonymous", message: "You are signed out." });
  }, [iam, qc]);

  const api = useMemo(() => ({ session, loginWithPassword, loginWithToken, logout }), [session, loginWithPassword, loginWithToken, logout]);
  return <Ctx.Provider value={api}>{children}</Ctx.Provider>;
}

export function useSession(): SessionAPI {
  const s = useContext(Ctx);
  if (!s) throw new Error("useSession outside SessionProvider");
  return s;
}
