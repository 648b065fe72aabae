package stack

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/strata-edge/strata/gen/strata/cert/v1/certv1connect"
	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/gen/strata/ddos/v1/ddosv1connect"
	"github.com/strata-edge/strata/gen/strata/dns/v1/dnsv1connect"
	"github.com/strata-edge/strata/gen/strata/iam/v1/iamv1connect"
	"github.com/strata-edge/strata/gen/strata/metrics/v1/metricsv1connect"
	"github.com/strata-edge/strata/gen/strata/purge/v1/purgev1connect"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/gen/strata/waf/v1/wafv1connect"
	apiserver "github.com/strata-edge/strata/internal/server"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/authz"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/keywrap"
	"github.com/strata-edge/strata/pkg/natsauth"
	certsvc "github.com/strata-edge/strata/services/cert"
	dnssvc "github.com/strata-edge/strata/services/dns"
	"github.com/strata-edge/strata/services/edgesync"
	"github.com/strata-edge/strata/services/iam"
	metricstore "github.com/strata-edge/strata/services/metrics/store"
	"github.com/strata-edge/strata/services/nodes"
	purgesvc "github.com/strata-edge/strata/services/purge"
	"github.com/strata-edge/strata/ui"
)

// apiParts are the inputs of startAPI.
type apiParts struct {
	addr     string
	dataDir  string
	services []string // the services whose API this process serves
	store    eventstore.Store
	js       jetstream.JetStream
	// NATS parts of the nodes service (required when it runs).
	authority *natsauth.Authority
	hub       *server.Server // embedded hub (dev); nil for an external one
	conn      *nats.Conn     // control-user connection, for heartbeats
	leafURLs  []string
	// replicas of the JetStream streams and buckets (strata control --replicas).
	replicas int
	log      *slog.Logger
	// devDNS, dev only, is the built-in node's DNS address once it runs:
	// the cert service checks it answers a DNS-01 value before the CA asks.
	devDNS *devDNSAddr
	// metricsDSN, when set, is the PostgreSQL URL of the metrics store (its
	// tables in metricsSchema, default store.DefaultSchema); else it is
	// SQLite in dataDir (metricsFile).
	metricsDSN, metricsSchema string
	// metricsRetention is how long each resolution of the metrics store
	// is kept (zero fields: the store's defaults).
	metricsRetention metricstore.Retention
}

// metricsFile is the SQLite metrics store in the data directory.
const metricsFile = "metrics.db"

// apiInfo describes a running API.
type apiInfo struct {
	url       string
	tokenFile string
	nodes     *nodes.Service // nil when the nodes service does not run here
	// metrics is the registry behind /metrics; strata dev adds its node.
	metrics *prometheus.Registry
}

// startAPI starts the chosen control services and the API server in front of
// them, registering their stops.
//
// Every API process runs the IAM read model (it authenticates and
// authorizes every call) and the content services' read models (content.go:
// they resolve the objects grants are scoped to), whether or not it serves
// their APIs; only the process serving the config API publishes snapshots. Every service gets the
// same interceptors: call logging, authentication (IAM tokens, sessions and
// the bootstrap token; NodeService.Join and IAM login are public), then
// authorization against one shared resolver registry.
func startAPI(ctx context.Context, p apiParts, st *stops) (apiInfo, error) {
	serves := func(name string) bool { return slices.Contains(p.services, name) }
	token, tokenFile, err := apiauth.LoadOrCreateBootstrapToken(p.dataDir)
	if err != nil {
		return apiInfo{}, fmt.Errorf("admin token: %w", err)
	}
	resolvers := authz.NewResolvers()

	iamSvc, err := iam.New(iam.Options{Store: p.store, BootstrapToken: token, Resolvers: resolvers,
		Logger: p.log.With("service", "iam")})
	if err != nil {
		return apiInfo{}, fmt.Errorf("iam service: %w", err)
	}
	if err := iamSvc.Start(ctx); err != nil {
		return apiInfo{}, fmt.Errorf("start iam service: %w", err)
	}
	st.add("iam service", iamSvc.Stop)

	// The nodes service is built first: it runs the config API's node
	// commands (the one writer of node streams) and feeds the config
	// service's node sync status. A process serving config but not
	// NodeService runs it for those commands only (no authority).
	kek, err := loadKEK(p.dataDir)
	if err != nil {
		return apiInfo{}, fmt.Errorf("key-encryption key: %w", err)
	}
	nodeOpts := nodes.Options{Store: p.store, Logger: p.log}
	if serves(ServiceNodes) {
		if p.authority == nil {
			return apiInfo{}, fmt.Errorf("nodes service: no NATS authority")
		}
		// Approved nodes get their partition's node KEK sealed to them at
		// join (docs/certs.md).
		nodeOpts.Authority, nodeOpts.Hub, nodeOpts.Conn, nodeOpts.LeafURLs = p.authority, p.hub, p.conn, p.leafURLs
		nodeOpts.NodeKEK = func(partitionID string) (*keywrap.Keyring, error) { return certsvc.NodeKeyring(kek, partitionID) }
	}
	nodesSvc, err := nodes.New(nodeOpts)
	if err != nil {
		return apiInfo{}, fmt.Errorf("nodes service: %w", err)
	}
	parts := contentParts{store: p.store, replicas: p.replicas, kek: kek, nodes: nodesSvc, log: p.log}
	if serves(ServiceConfig) {
		parts.publish = p.js // the config API's process publishes
	}
	if serves(ServiceCert) {
		parts.certJS = p.js
		parts.acme = func(dns *dnssvc.Service) *certsvc.ACMEOptions { return acmeOptions(dns, p.devDNS) }
	}
	if serves(ServiceNodes) {
		parts.statuses = heartbeats(nodesSvc)
	}
	if serves(ServiceDDoS) {
		if p.conn == nil {
			return apiInfo{}, fmt.Errorf("ddos service: no NATS connection")
		}
		parts.ddosJS, parts.ddosConn = p.js, p.conn
	}
	if serves(ServiceWAF) {
		parts.wafJS = p.js
	}
	if serves(ServiceMetrics) {
		if parts.metrics, err = openMetrics(ctx, p, st); err != nil {
			return apiInfo{}, err
		}
		if serves(ServiceNodes) {
			parts.metrics.gateways = gatewayReasons{nodesSvc}
		}
	}
	cs, err := newContent(parts)
	if err != nil {
		return apiInfo{}, err
	}
	if err := cs.Start(ctx); err != nil {
		return apiInfo{}, err
	}
	st.add("content services", cs.Stop)
	cfgSvc, dnsSvc, certSvc, metricsSvc := cs.config, cs.dns, cs.cert, cs.metrics
	if serves(ServiceConfig) {
		if err := cfgSvc.EnsureDefaults(ctx); err != nil {
			return apiInfo{}, fmt.Errorf("config service defaults: %w", err)
		}
	}
	resolvers.Register(cfgSvc, authz.KindPartition, authz.KindCluster, authz.KindNode, authz.KindApp)
	resolvers.Register(dnsSvc, authz.KindDNSZone)
	if err := nodesSvc.Start(ctx); err != nil {
		return apiInfo{}, fmt.Errorf("start nodes service: %w", err)
	}
	st.add("nodes service", nodesSvc.Stop)
	resolvers.Register(nodesSvc, authz.KindJoinToken)

	var purgeSvc *purgesvc.Service
	if serves(ServicePurge) {
		// Nodes a purge waits for: the heartbeats the config service shows.
		if purgeSvc, err = purgesvc.New(purgesvc.Options{Store: p.store, JetStream: p.js, Replicas: p.replicas, Conn: p.conn,
			Nodes: parts.statuses, Topology: cfgSvc, Logger: p.log.With("service", "purge")}); err != nil {
			return apiInfo{}, fmt.Errorf("purge service: %w", err)
		}
		if err := purgeSvc.Start(ctx); err != nil {
			return apiInfo{}, fmt.Errorf("start purge service: %w", err)
		}
		st.add("purge service", purgeSvc.Stop)
	}

	rules := authz.DefaultRules()
	opts := apiserver.ServiceOptions(p.log.With("part", "api"),
		apiauth.NewInterceptor(iamSvc.Authenticator(), apiauth.WithPublicProcedures(rules.PublicProcedures()...)),
		authz.NewInterceptor(iamSvc, authz.WithResolvers(resolvers), authz.WithLogger(p.log.With("part", "authz"))),
	)
	// Every service mounts the same way: its Connect name and its handler.
	byName := map[string]struct {
		name string
		svc  interface {
			Handler(...connect.HandlerOption) (string, http.Handler)
		}
	}{
		ServiceConfig: {configv1connect.ConfigServiceName, cfgSvc}, ServiceNodes: {configv1connect.NodeServiceName, nodesSvc},
		ServiceIAM: {iamv1connect.IAMServiceName, iamSvc}, ServiceDNS: {dnsv1connect.DnsServiceName, dnsSvc},
		ServicePurge: {purgev1connect.PurgeServiceName, purgeSvc}, ServiceCert: {certv1connect.CertServiceName, certSvc},
		ServiceMetrics: {metricsv1connect.MetricsServiceName, metricsSvc}, ServiceDDoS: {ddosv1connect.DdosServiceName, cs.ddos},
		ServiceWAF: {wafv1connect.WafServiceName, cs.waf},
	}
	var mounts []apiserver.Service
	for _, name := range p.services {
		m, ok := byName[name]
		if !ok {
			return apiInfo{}, fmt.Errorf("unknown service %q", name)
		}
		path, h := m.svc.Handler(opts...)
		mounts = append(mounts, apiserver.Service{Name: m.name, Path: path, Handler: h})
	}
	// /metrics: the process and the services that export metrics.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if serves(ServiceCert) {
		reg.MustRegister(certSvc.Collector())
	}
	if serves(ServiceMetrics) {
		reg.MustRegister(metricsSvc.Collector())
	}
	api, err := apiserver.New(apiserver.Options{Addr: p.addr, Services: mounts, Logger: p.log.With("part", "api"),
		Middleware: iamSvc.Middleware, Metrics: reg, Console: ui.Handler()})
	if err != nil {
		return apiInfo{}, err
	}
	if err := api.Start(); err != nil {
		return apiInfo{}, err
	}
	st.add("api", api.Shutdown)
	info := apiInfo{url: api.URL(), tokenFile: tokenFile, metrics: reg}
	if serves(ServiceNodes) {
		info.nodes = nodesSvc
	}
	return info, nil
}

// openMetrics opens the metrics store (PostgreSQL with p.metricsDSN, else
// SQLite in the data directory), closed after the services stopped.
func openMetrics(ctx context.Context, p apiParts, st *stops) (metricsIngest, error) {
	if p.conn == nil {
		return metricsIngest{}, fmt.Errorf("metrics service: no NATS connection")
	}
	var ms metricstore.Store
	var err error
	if p.metricsDSN != "" {
		if ms, err = metricstore.OpenPostgresOptions(ctx, p.metricsDSN, metricstore.PostgresOptions{Schema: p.metricsSchema, Retention: p.metricsRetention}); err != nil {
			return metricsIngest{}, fmt.Errorf("--metrics-postgres-dsn: metrics store: %w", err)
		}
	} else if ms, err = metricstore.OpenSQLite(filepath.Join(p.dataDir, metricsFile), p.metricsRetention); err != nil {
		return metricsIngest{}, fmt.Errorf("metrics store: %w", err)
	}
	st.add("metrics store", func(context.Context) error { return ms.Close() })
	return metricsIngest{store: ms, conn: p.conn}, nil
}

// gatewayReasons tells the metrics service why a node is out of the
// gateway answers, from the nodes service's heartbeats (the same view
// GatewaySets reads).
type gatewayReasons struct{ nodes *nodes.Service }

func (g gatewayReasons) GatewayReason(nodeID string) string {
	s, ok := g.nodes.Statuses()[nodeID]
	switch {
	case !ok:
		return "no heartbeat since this control plane started"
	case s.Status.GetLeaving():
		return "the node said it is leaving"
	case !s.Online:
		return fmt.Sprintf("no heartbeat since %s (or disabled)", s.ReceivedAt.UTC().Format(time.RFC3339))
	case !s.Healthy:
		return "the node reports itself unhealthy"
	}
	return ""
}

// heartbeats shows the nodes service's heartbeat table to the config
// service (which does not import it).
func heartbeats(svc *nodes.Service) edgesync.StatusSource {
	return edgesync.StatusSourceFunc(func() map[string]edgesync.NodeStatus {
		in := svc.Statuses()
		out := make(map[string]edgesync.NodeStatus, len(in))
		for id, s := range in {
			out[id] = edgesync.NodeStatus{
				AppliedVersion:  s.Status.GetVersion(),
				LastSeen:        s.ReceivedAt,
				Online:          s.Online,
				Healthy:         s.Healthy,
				ApplyError:      s.Status.GetApplyError(),
				DNS:             s.Status.GetDns(),
				XDP:             xdpOf(s.Status.GetXdp()),
				Roles:           s.Status.GetRoles(),
				SoftwareVersion: s.Status.GetSoftwareVersion(),
				PeerChecks:      s.Peers.String(),
				HealthReason:    s.Reason,
			}
		}
		return out
	})
}

// xdpOf is the heartbeat's XDP state as the config API shows it.
func xdpOf(in []*syncv1.XdpInterface) []*configv1.NodeXdpInterface {
	var out []*configv1.NodeXdpInterface
	for _, x := range in {
		out = append(out, &configv1.NodeXdpInterface{Name: x.GetName(), Mode: x.GetMode(), Error: x.GetError()})
	}
	return out
}
