package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-edge/strata/pkg/background"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/keywrap"
	"github.com/strata-edge/strata/pkg/wafengine"
	certsvc "github.com/strata-edge/strata/services/cert"
	"github.com/strata-edge/strata/services/config"
	ddossvc "github.com/strata-edge/strata/services/ddos"
	dnssvc "github.com/strata-edge/strata/services/dns"
	"github.com/strata-edge/strata/services/edgesync"
	metricssvc "github.com/strata-edge/strata/services/metrics"
	metricstore "github.com/strata-edge/strata/services/metrics/store"
	wafsvc "github.com/strata-edge/strata/services/waf"
)

// contentParts are the inputs of newContent.
type contentParts struct {
	store eventstore.Store
	// replicas of the JetStream streams and buckets the services create.
	replicas int
	// publish, when set, is where the tracks are published (the process
	// serving the config API).
	publish  jetstream.JetStream
	kek      *keywrap.Keyring
	statuses edgesync.StatusSource // nil: every node shows as never seen
	nodes    config.Nodes          // runs the config API's node commands
	// cert is the cert service's JetStream and ACME settings (when this
	// process serves its API) from the dns service.
	certJS jetstream.JetStream
	acme   func(*dnssvc.Service) *certsvc.ACMEOptions
	// metrics, when this process serves the metrics API, is where reports
	// are stored and the connection they arrive on; otherwise the metrics
	// service keeps its definitions only (they reach the tracks anyway).
	metrics metricsIngest
	// ddosJS and ddosConn, when this process serves the ddos API, carry
	// block commands, acknowledgements and filter reports.
	ddosJS   jetstream.JetStream
	ddosConn *nats.Conn
	// wafJS, when this process serves the waf API, holds the hit log.
	wafJS jetstream.JetStream
	log   *slog.Logger
}

// metricsIngest are the metrics service's ingest parts.
type metricsIngest struct {
	store    metricstore.Store
	conn     *nats.Conn
	gateways metricssvc.Gateways
}

// content are the services whose content reaches the nodes (config: apps
// and cluster settings, dns: zones, cert: certificates, metrics: Metric SQL,
// ddos: cluster policies, waf: WAF policies) and the edgesync
// tracks they contribute to. Every API process runs them: their read
// models resolve authorization scopes and answer each other's checks, and
// one subscription folds the log into all of them in order.
type content struct {
	sync    *edgesync.Tracks
	pub     *edgesync.Publisher // nil unless publishing
	store   eventstore.Store
	config  *config.Service
	dns     *dnssvc.Service
	cert    *certsvc.Service
	metrics *metricssvc.Service
	ddos    *ddossvc.Service
	waf     *wafsvc.Service
	bg      background.Group
}

// newContent builds the content services on shared tracks. Folders are
// added config first: dns reads config's nodes as of the event it folds;
// metrics (Metric SQL definitions) comes last.
func newContent(p contentParts) (*content, error) {
	c := &content{sync: edgesync.New(p.log.With("part", "edgesync"), p.publish != nil), store: p.store}
	if p.publish != nil {
		c.pub = edgesync.NewPublisher(p.publish, c.sync, config.Consistent, p.log.With("part", "edgesync"))
		c.pub.Replicas = p.replicas
	}
	var err error
	if c.config, err = config.New(config.Options{Store: p.store, Sync: c.sync, Statuses: p.statuses,
		Nodes: p.nodes, Logger: p.log.With("service", "config")}); err != nil {
		return nil, fmt.Errorf("config service: %w", err)
	}
	if c.dns, err = dnssvc.New(dnssvc.Options{Store: p.store, Partitions: c.config, Sync: c.sync, Gateways: c.config,
		Logger: p.log.With("service", "dns")}); err != nil {
		return nil, fmt.Errorf("dns service: %w", err)
	}
	c.config.UseZones(c.dns)
	var acme *certsvc.ACMEOptions
	if p.acme != nil {
		if acme = p.acme(c.dns); acme != nil {
			acme.Replicas = p.replicas
		}
	}
	if c.cert, err = certsvc.New(certsvc.Options{Store: p.store, JetStream: p.certJS, KEK: p.kek, ACME: acme,
		Apps: c.config, Domains: c.config, Sync: c.sync, Logger: p.log.With("service", "cert")}); err != nil {
		return nil, fmt.Errorf("cert service: %w", err)
	}
	if c.metrics, err = metricssvc.New(metricssvc.Options{Store: p.store, Partitions: c.config, Sync: c.sync,
		Results: p.metrics.store, Conn: p.metrics.conn, Objects: c.config, Gateways: p.metrics.gateways,
		Logger: p.log.With("service", "metrics")}); err != nil {
		return nil, fmt.Errorf("metrics service: %w", err)
	}
	c.config.UseMetrics(c.metrics)
	if c.ddos, err = ddossvc.New(ddossvc.Options{Store: p.store, Clusters: c.config, Sync: c.sync, JetStream: p.ddosJS, Conn: p.ddosConn,
		Replicas: p.replicas, Nodes: p.statuses, Logger: p.log.With("service", "ddos")}); err != nil {
		return nil, fmt.Errorf("ddos service: %w", err)
	}
	// WAF policies: compiled as the nodes will (wafengine.Validate) before
	// they are stored; apps name them, checked both ways through the two
	// services' lookups.
	if c.waf, err = wafsvc.New(wafsvc.Options{Store: p.store, Sync: c.sync, Partitions: c.config, Apps: c.config,
		Validate: wafengine.Validate, JetStream: p.wafJS, Replicas: p.replicas, Logger: p.log.With("service", "waf"),
		KEK: p.kek}); err != nil { // challenge keys, sealed for the partitions' node KEKs
		return nil, fmt.Errorf("waf service: %w", err)
	}
	c.config.UseWafPolicies(c.waf)
	return c, nil
}

// Start follows the log (and publishes), then starts the services: each
// returns once its read model caught up.
func (c *content) Start(ctx context.Context) error {
	if err := c.bg.Start(ctx); err != nil {
		return err
	}
	if c.pub != nil {
		if err := c.pub.EnsureStream(ctx); err != nil {
			return errors.Join(err, c.bg.Stop(context.Background()))
		}
		c.bg.Go(c.pub.Run)
	}
	c.bg.Go(func(ctx context.Context) { c.sync.Follow(ctx, c.store) })
	for _, s := range []struct {
		name  string
		start func(context.Context) error
	}{{"config", c.config.Start}, {"dns", c.dns.Start}, {"cert", c.cert.Start}, {"metrics", c.metrics.Start}, {"ddos", c.ddos.Start}, {"waf", c.waf.Start}} {
		if err := s.start(ctx); err != nil {
			return errors.Join(fmt.Errorf("start %s service: %w", s.name, err), c.Stop(context.Background()))
		}
	}
	return nil
}

// Stop stops the services, then the subscription and the publisher.
func (c *content) Stop(ctx context.Context) error {
	return errors.Join(c.waf.Stop(ctx), c.ddos.Stop(ctx), c.metrics.Stop(ctx), c.cert.Stop(ctx), c.dns.Stop(ctx), c.config.Stop(ctx), c.bg.Stop(ctx))
}
