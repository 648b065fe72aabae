// The console's client layer: one transport, typed service clients and the
// query cache. Pages read with connect-query's useQuery(Service.method.x, req)
// and write with useMutation or client(Service).
export { transport, client, newTransport, authInterceptor } from "./transport";
export { newQueryClient } from "./query";
export { errorKind, errorMessage, requestId, type ErrorKind } from "./errors";
export { fieldViolations, violationsUnder, isConflict, type Violation } from "./violations";
export { getToken, setToken, clearToken, onUnauthenticated } from "./auth";
export { CertService } from "../gen/strata/cert/v1/cert_pb";
export { ConfigService } from "../gen/strata/config/v1/config_pb";
export { NodeService } from "../gen/strata/config/v1/node_pb";
export { DdosService } from "../gen/strata/ddos/v1/ddos_pb";
export { DnsService } from "../gen/strata/dns/v1/dns_pb";
export { IAMService } from "../gen/strata/iam/v1/iam_pb";
export { MetricsService } from "../gen/strata/metrics/v1/metrics_pb";
export { PurgeService } from "../gen/strata/purge/v1/purge_pb";
