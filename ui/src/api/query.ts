import { QueryClient } from "@tanstack/react-query";
import { errorKind } from "./errors";

// newQueryClient is the console's cache of API reads. A page shows what is
// cached at once and refetches it when it mounts (staleTime 0): an operator
// console must not show old state. Authentication and permission errors
// are final: retrying them only delays the message.
export function newQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 0,
        refetchOnWindowFocus: true,
        retry: (count, err) => {
          const k = errorKind(err);
          if (k === "unauthenticated" || k === "forbidden" || k === "not_found" || k === "invalid") return false;
          return count < 2;
        },
      },
    },
  });
}
