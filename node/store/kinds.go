package store

import (
	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ddosv1 "github.com/strata-edge/strata/gen/strata/ddos/v1"
	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
)

// kinds is the node's table of resource kinds: the name on the wire (as the
// control plane's content service registers it with services/edgesync), the
// bbolt bucket, and the field of the Snapshot view the runtime reads.
// Adding a kind is one line here (and its view field in sync.proto); a kind
// missing here is refused with "upgrade the node", never dropped.
var kinds = []kind{
	kindOf("app", "apps", func(s *syncv1.Snapshot) *[]*configv1.App { return &s.Apps }),
	kindOf("zone", "zones", func(s *syncv1.Snapshot) *[]*dnsv1.Zone { return &s.Zones }),
	kindOf("certificate", "certs", func(s *syncv1.Snapshot) *[]*certv1.SyncedCertificate { return &s.Certificates }),
	kindOf("cluster", "clusters", func(s *syncv1.Snapshot) *[]*configv1.Cluster { return &s.Clusters }),
	kindOf("metric", "metrics", func(s *syncv1.Snapshot) *[]*metricsv1.MetricDefinition { return &s.Metrics }),
	kindOf("ddos_policy", "ddos_policies", func(s *syncv1.Snapshot) *[]*ddosv1.DdosPolicy { return &s.DdosPolicies }),
	kindOf("waf_policy", "waf_policies", func(s *syncv1.Snapshot) *[]*wafv1.WafPolicy { return &s.WafPolicies }),
	kindOf("challenge_key", "challenge_keys", func(s *syncv1.Snapshot) *[]*wafv1.ChallengeKey { return &s.ChallengeKeys }),
	kindOf("upstream_endpoints", "upstream_endpoints", func(s *syncv1.Snapshot) *[]*configv1.UpstreamEndpoints { return &s.UpstreamEndpoints }),
}
