import { Code, ConnectError } from "@connectrpc/connect";

// What a failed call means for the console.
export type ErrorKind = "unauthenticated" | "forbidden" | "not_found" | "invalid" | "unavailable" | "other";

export function errorKind(err: unknown): ErrorKind {
  const ce = ConnectError.from(err);
  switch (ce.code) {
    case Code.Unauthenticated:
      return "unauthenticated";
    case Code.PermissionDenied:
      return "forbidden";
    case Code.NotFound:
      return "not_found";
    case Code.InvalidArgument:
    case Code.FailedPrecondition:
    case Code.AlreadyExists:
      return "invalid";
    case Code.Unavailable:
    case Code.DeadlineExceeded:
      return "unavailable";
    default:
      return "other";
  }
}

// errorMessage is the server's message without Connect's "[code]" prefix.
export function errorMessage(err: unknown): string {
  return ConnectError.from(err).rawMessage || String(err);
}

// requestId is the id the API returned with an error, for bug reports.
export function requestId(err: unknown): string | undefined {
  return ConnectError.from(err).metadata.get("x-request-id") ?? undefined;
}
