import { useMemo, type ReactNode } from "react";
import { BrowserRouter, Navigate, Route, Routes, useLocation } from "react-router";
import { QueryClientProvider } from "@tanstack/react-query";
import { TransportProvider } from "@connectrpc/connect-query";
import { newQueryClient, transport } from "../api";
import { Layout } from "../components/Layout";
import { pages } from "../pages";
import { LoginPage } from "../pages/login";
import { SessionProvider, useSession } from "./session";

// RequireSession shows its children to a signed-in user, else the login page
// (which comes back here after signing in).
function RequireSession({ children }: { children: ReactNode }) {
  const { session } = useSession();
  const location = useLocation();
  if (session.state === "checking") {
    return (
      <p role="status" style={{ padding: "2rem" }}>
        Loading…
      </p>
    );
  }
  if (session.state === "anonymous") return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  return <>{children}</>;
}

function NotFound() {
  return (
    <>
      <h1>Page not found</h1>
      <p>There is no console page at this address.</p>
    </>
  );
}

export function App() {
  const queryClient = useMemo(newQueryClient, []);
  return (
    <TransportProvider transport={transport}>
      <QueryClientProvider client={queryClient}>
        <SessionProvider>
          <BrowserRouter>
            <Routes>
              <Route path="/login" element={<LoginPage />} />
              <Route
                element={
                  <RequireSession>
                    <Layout />
                  </RequireSession>
                }
              >
                <Route index element={<Navigate to="/apps" replace />} />
                {pages.map((p) => (
                  <Route key={p.path} path={p.path} element={<p.Component />} />
                ))}
                <Route path="*" element={<NotFound />} />
              </Route>
            </Routes>
          </BrowserRouter>
        </SessionProvider>
      </QueryClientProvider>
    </TransportProvider>
  );
}
