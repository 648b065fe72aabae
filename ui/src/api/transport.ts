import { Code, ConnectError, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import type { DescService } from "@bufbuild/protobuf";
import { getToken, notifyUnauthenticated } from "./auth";

// authInterceptor sends the pasted API token, if any (the session cookie,
// if any, goes by itself: same origin), and reports "unauthenticated"
// replies so that the console returns to the login page with a message.
export const authInterceptor: Interceptor = (next) => async (req) => {
  const token = getToken();
  if (token && !req.header.has("Authorization")) {
    req.header.set("Authorization", `Bearer ${token}`);
  }
  try {
    return await next(req);
  } catch (err) {
    const ce = ConnectError.from(err);
    if (ce.code === Code.Unauthenticated && !req.method.name.startsWith("Login")) {
      notifyUnauthenticated(ce.rawMessage);
    }
    throw err;
  }
};

// newTransport is the Connect transport to the API at baseUrl (the page's
// origin: the console is served by the API server).
export function newTransport(baseUrl: string = window.location.origin): Transport {
  return createConnectTransport({
    baseUrl,
    interceptors: [authInterceptor],
    // Cookies only to the console's own origin.
    fetch: (input, init) => globalThis.fetch(input, { ...init, credentials: "same-origin" }),
  });
}

export const transport = newTransport();

// client is a typed client of one service over the shared transport, for
// calls outside React Query (mutations, login).
export function client<T extends DescService>(service: T) {
  return createClient(service, transport);
}
