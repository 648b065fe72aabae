package authz

import (
	crt "github.com/strata-edge/strata/gen/strata/cert/v1/certv1connect"
	cfg "github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	dds "github.com/strata-edge/strata/gen/strata/ddos/v1/ddosv1connect"
	dns "github.com/strata-edge/strata/gen/strata/dns/v1/dnsv1connect"
	iam "github.com/strata-edge/strata/gen/strata/iam/v1/iamv1connect"
	met "github.com/strata-edge/strata/gen/strata/metrics/v1/metricsv1connect"
	prg "github.com/strata-edge/strata/gen/strata/purge/v1/purgev1connect"
	waf "github.com/strata-edge/strata/gen/strata/waf/v1/wafv1connect"
)

// Object kinds of grants and checks.
const (
	KindPartition = "partition"
	KindCluster   = "cluster"
	KindNode      = "node"
	KindApp       = "app"
	KindJoinToken = "join_token"
	KindDNSZone   = "dns_zone"
	KindUser      = "user"
)

// Permissions that handlers check themselves (no rule names them), so that
// roles may hold them.
const (
	// PermIAMAuditRead lets a caller see IAM events (streams "iam.*") in the
	// audit trail, besides PermAuditRead.
	PermIAMAuditRead = "iam.audit.read"
	// PermAuditRead lets a caller list audit events of the objects it holds
	// it over.
	PermAuditRead = "audit.event.read"
	// PermTokenRead lets a caller list other users' API tokens.
	PermTokenRead = "iam.token.read"
	// PermTokenWrite lets a caller create tokens for service accounts and
	// revoke other users' tokens (and the bootstrap token).
	PermTokenWrite = "iam.token.write"
)

var handlerPermissions = []string{PermIAMAuditRead, PermAuditRead, PermTokenRead, PermTokenWrite}

// DefaultRules is the permission table of every RPC of every Strata service.
// An RPC without an entry is denied to everyone (and fails TestEveryRPCHasARule).
//
// Verbs: read (changes nothing; what viewers get), write (create, change,
// delete), release (publish pending changes to nodes).
func DefaultRules() Rules {
	partitions := ObjectRef{Kind: KindPartition, Field: "partitions", Default: "default"}
	app := Ref(KindApp, "app_id")
	zone := Ref(KindDNSZone, "zone")
	return Rules{
		// ConfigService.
		cfg.ConfigServiceCreatePartitionProcedure: Everywhere("config.partition.write"),
		cfg.ConfigServiceListPartitionsProcedure:  Somewhere("config.partition.read", List("partitions", KindPartition, "id")),
		cfg.ConfigServiceUpdatePartitionProcedure: OnObjects("config.partition.write", Ref(KindPartition, "partition")),
		cfg.ConfigServiceDeletePartitionProcedure: OnObjects("config.partition.write", Ref(KindPartition, "partition")),
		cfg.ConfigServiceCreateClusterProcedure:   OnObjects("config.cluster.write", Ref(KindPartition, "partition")),
		cfg.ConfigServiceDeleteClusterProcedure:   OnObjects("config.cluster.write", Ref(KindCluster, "cluster")),
		cfg.ConfigServiceUpdateClusterProcedure:   OnObjects("config.cluster.write", Ref(KindCluster, "cluster")),
		cfg.ConfigServiceListClustersProcedure:    Somewhere("config.cluster.read", List("clusters", KindCluster, "id")),
		cfg.ConfigServiceRegisterNodeProcedure:    OnObjects("config.node.write", Ref(KindCluster, "cluster")),
		cfg.ConfigServiceSetNodeStagingProcedure:  OnObjects("config.node.write", Ref(KindNode, "node_id")),
		cfg.ConfigServiceRemoveNodeProcedure:      OnObjects("config.node.write", Ref(KindNode, "node_id")),
		cfg.ConfigServiceListNodesProcedure:       Somewhere("config.node.read", List("nodes", KindNode, "node.id")),
		cfg.ConfigServiceWatchNodesProcedure:      Somewhere("config.node.read", List("nodes", KindNode, "node.id")),

		cfg.ConfigServiceCreateAppProcedure: OnObjects("config.app.write", partitions),
		cfg.ConfigServiceGetAppProcedure:    OnObjects("config.app.read", app),
		cfg.ConfigServiceListAppsProcedure:  Somewhere("config.app.read", List("apps", KindApp, "id")),
		cfg.ConfigServiceUpdateAppProcedure: OnObjects("config.app.write", app, partitions),
		cfg.ConfigServiceDeleteAppProcedure: OnObjects("config.app.write", app),

		cfg.ConfigServiceCreateUpstreamProcedure: OnObjects("config.app.write", app),
		cfg.ConfigServiceUpdateUpstreamProcedure: OnObjects("config.app.write", app),
		cfg.ConfigServiceDeleteUpstreamProcedure: OnObjects("config.app.write", app),
		cfg.ConfigServiceCreateRuleProcedure:     OnObjects("config.app.write", app),
		cfg.ConfigServiceUpdateRuleProcedure:     OnObjects("config.app.write", app),
		cfg.ConfigServiceDeleteRuleProcedure:     OnObjects("config.app.write", app),
		cfg.ConfigServiceMoveRuleProcedure:       OnObjects("config.app.write", app),

		cfg.ConfigServiceDiffAppProcedure:        OnObjects("config.app.read", app),
		cfg.ConfigServiceCreateReleaseProcedure:  OnObjects("config.app.release", app),
		cfg.ConfigServicePromoteReleaseProcedure: OnObjects("config.app.release", app),
		cfg.ConfigServiceListReleasesProcedure:   OnObjects("config.app.read", app),
		cfg.ConfigServiceRevertAppProcedure:      OnObjects("config.app.release", app),
		cfg.ConfigServiceRevertObjectProcedure:   OnObjects("config.app.release", app),

		cfg.ConfigServiceGetSnapshotProcedure: OnObjects("config.snapshot.read", Ref(KindPartition, "partition")),

		// Dynamic server sets are not scoped objects yet: they need the
		// permission over everything (the k8s controller holds it).
		cfg.ConfigServiceSetEndpointsProcedure:    Everywhere("config.endpoints.write"),
		cfg.ConfigServiceDeleteEndpointsProcedure: Everywhere("config.endpoints.write"),
		cfg.ConfigServiceGetEndpointsProcedure:    Everywhere("config.endpoints.read"),
		cfg.ConfigServiceListEndpointsProcedure:   Everywhere("config.endpoints.read"),

		// NodeService.
		cfg.NodeServiceCreateJoinTokenProcedure: OnObjects("config.join_token.write", Ref(KindCluster, "cluster")),
		cfg.NodeServiceListJoinTokensProcedure:  Somewhere("config.join_token.read", List("join_tokens", KindCluster, "cluster_id")),
		cfg.NodeServiceRevokeJoinTokenProcedure: OnObjects("config.join_token.write", Ref(KindJoinToken, "token_id")),
		cfg.NodeServiceApproveNodeProcedure:     OnObjects("config.node.write", Ref(KindNode, "node_id")),
		cfg.NodeServiceSetNodeDisabledProcedure: OnObjects("config.node.write", Ref(KindNode, "node_id")),
		// A joining node authenticates with its join token.
		cfg.NodeServiceJoinProcedure: Public(),

		// DnsService. Zones (DNS apps) belong to partitions like HTTP apps.
		dns.DnsServiceCreateZoneProcedure:     OnObjects("dns.zone.write", partitions),
		dns.DnsServiceGetZoneProcedure:        OnObjects("dns.zone.read", zone),
		dns.DnsServiceListZonesProcedure:      Somewhere("dns.zone.read", List("zones", KindDNSZone, "id")),
		dns.DnsServiceUpdateZoneProcedure:     OnObjects("dns.zone.write", zone, partitions),
		dns.DnsServiceDeleteZoneProcedure:     OnObjects("dns.zone.write", zone),
		dns.DnsServiceAddRecordProcedure:      OnObjects("dns.zone.write", zone),
		dns.DnsServiceUpdateRecordProcedure:   OnObjects("dns.zone.write", zone),
		dns.DnsServiceRemoveRecordProcedure:   OnObjects("dns.zone.write", zone),
		dns.DnsServiceListRecordsProcedure:    OnObjects("dns.zone.read", zone),
		dns.DnsServiceImportZoneProcedure:     OnObjects("dns.zone.write", zone),
		dns.DnsServiceExportZoneProcedure:     OnObjects("dns.zone.read", zone),
		dns.DnsServiceDiffZoneProcedure:       OnObjects("dns.zone.read", zone),
		dns.DnsServiceCreateReleaseProcedure:  OnObjects("dns.zone.release", zone),
		dns.DnsServiceListReleasesProcedure:   OnObjects("dns.zone.read", zone),
		dns.DnsServiceRevertZoneProcedure:     OnObjects("dns.zone.release", zone),
		dns.DnsServicePromoteReleaseProcedure: OnObjects("dns.zone.release", zone),

		// CertService. Certificates are not scoped; attaching one to an app
		// (and requesting one for it) is checked on the app.
		crt.CertServiceUploadCertificateProcedure:  Everywhere("cert.certificate.write"),
		crt.CertServiceListCertificatesProcedure:   Everywhere("cert.certificate.read"),
		crt.CertServiceGetCertificateProcedure:     Everywhere("cert.certificate.read"),
		crt.CertServiceDeleteCertificateProcedure:  Everywhere("cert.certificate.write"),
		crt.CertServiceAttachCertificateProcedure:  OnObjects("cert.certificate.write", app),
		crt.CertServiceDetachCertificateProcedure:  OnObjects("cert.certificate.write", app),
		crt.CertServiceRequestCertificateProcedure: OnObjects("cert.certificate.write", app),
		crt.CertServiceRevokeCertificateProcedure:  Everywhere("cert.certificate.write"),
		crt.CertServiceSetAcmeAccountProcedure:     Everywhere("cert.certificate.write"),
		crt.CertServiceListAcmeAccountsProcedure:   Everywhere("cert.certificate.read"),

		// PurgeService. A purge's scope (app, partition or all) is a oneof,
		// which object refs cannot name yet: purges need the permission
		// over everything.
		prg.PurgeServiceCreatePurgeProcedure: Everywhere("purge.purge.create"),
		prg.PurgeServiceGetPurgeProcedure:    Everywhere("purge.purge.read"),
		prg.PurgeServiceWatchPurgeProcedure:  Everywhere("purge.purge.read"),
		prg.PurgeServiceListPurgesProcedure:  Everywhere("purge.purge.read"),
		// A push names its app: the permission over that app suffices.
		prg.PurgeServiceCreatePushProcedure: OnObjects("purge.push.create", app),
		prg.PurgeServiceGetPushProcedure:    Everywhere("purge.push.read"),
		prg.PurgeServiceListPushesProcedure: Everywhere("purge.push.read"),

		// DdosService. A policy belongs to its cluster; a block's scope (a
		// cluster or all) is a oneof, which object refs cannot name yet, so
		// blocks need the permission over everything, like purges; so do
		// the counters of every node (GetStats).
		dds.DdosServiceGetPolicyProcedure:      OnObjects("ddos.policy.read", Ref(KindCluster, "cluster")),
		dds.DdosServiceUpdatePolicyProcedure:   OnObjects("ddos.policy.write", Ref(KindCluster, "cluster")),
		dds.DdosServiceCreateReleaseProcedure:  OnObjects("ddos.policy.release", Ref(KindCluster, "cluster")),
		dds.DdosServicePromoteReleaseProcedure: OnObjects("ddos.policy.release", Ref(KindCluster, "cluster")),
		dds.DdosServiceListReleasesProcedure:   OnObjects("ddos.policy.read", Ref(KindCluster, "cluster")),
		dds.DdosServiceRevertPolicyProcedure:   OnObjects("ddos.policy.release", Ref(KindCluster, "cluster")),
		dds.DdosServiceBlockProcedure:          Everywhere("ddos.block.create"),
		dds.DdosServiceGetBlockProcedure:       Everywhere("ddos.block.read"),
		dds.DdosServiceListBlocksProcedure:     Everywhere("ddos.block.read"),
		dds.DdosServiceGetStatsProcedure:       Everywhere("ddos.stats.read"),

		// WafService. Policies are shared by the apps that attach them (and
		// attaching one is an app update, checked on the app), so they are
		// not scoped. Hits are read on their app: ListHits keeps the hits of
		// the apps the caller holds waf.hit.read over; WatchHits and
		// GetRuleStats check app_id, and without it the handler needs the
		// permission over everything.
		waf.WafServiceCreatePolicyProcedure:   Everywhere("waf.policy.write"),
		waf.WafServiceUpdatePolicyProcedure:   Everywhere("waf.policy.write"),
		waf.WafServiceDeletePolicyProcedure:   Everywhere("waf.policy.write"),
		waf.WafServiceGetPolicyProcedure:      Everywhere("waf.policy.read"),
		waf.WafServiceListPoliciesProcedure:   Everywhere("waf.policy.read"),
		waf.WafServiceListReleasesProcedure:   Everywhere("waf.policy.read"),
		waf.WafServiceCreateReleaseProcedure:  Everywhere("waf.policy.release"),
		waf.WafServicePromoteReleaseProcedure: Everywhere("waf.policy.release"),
		waf.WafServiceRevertPolicyProcedure:   Everywhere("waf.policy.release"),
		waf.WafServiceListHitsProcedure:       Somewhere("waf.hit.read", List("hits", KindApp, "app_id")),
		waf.WafServiceWatchHitsProcedure:      OnObjects("waf.hit.read", app),
		waf.WafServiceGetRuleStatsProcedure:   OnObjects("waf.hit.read", app),
		// A challenge key signs the clearance cookies of a whole partition.
		waf.WafServiceRotateChallengeKeyProcedure: Everywhere("waf.challenge_key.rotate"),

		// MetricsService. An app's numbers are read on the app (an app
		// viewer sees only its apps), a node's machine on the node. Metric
		// SQL definitions run over every app's requests on their
		// partitions (empty: all), so defining one or reading its results
		// needs the permission over everything, not over a partition.
		met.MetricsServiceCreateMetricProcedure: Everywhere("metrics.metric.write"),
		met.MetricsServiceUpdateMetricProcedure: Everywhere("metrics.metric.write"),
		met.MetricsServiceDeleteMetricProcedure: Everywhere("metrics.metric.write"),
		met.MetricsServiceGetMetricProcedure:    Everywhere("metrics.metric.read"),
		met.MetricsServiceListMetricsProcedure:  Everywhere("metrics.metric.read"),
		met.MetricsServiceQueryMetricProcedure:  Everywhere("metrics.metric.read"),
		met.MetricsServiceQuerySeriesProcedure:  OnObjects("metrics.app.read", app),
		met.MetricsServiceQueryTopProcedure:     OnObjects("metrics.app.read", app),
		met.MetricsServiceTailProcedure:         OnObjects("metrics.app.read", app),
		met.MetricsServiceGetNodeStatsProcedure: OnObjects("metrics.node.read", Ref(KindNode, "node_id")),
		// One of app_id (upstream servers' health as the app's nodes saw
		// it) and node_id (the node's liveness): both are checked when set.
		met.MetricsServiceListHealthProcedure: OnObjects("metrics.health.read", app, Ref(KindNode, "node_id")),

		// IAMService. IAM objects are not scoped: IAM permissions count only
		// when held over everything.
		iam.IAMServiceCreateUserProcedure:      Everywhere("iam.user.write"),
		iam.IAMServiceGetUserProcedure:         Everywhere("iam.user.read"),
		iam.IAMServiceListUsersProcedure:       Everywhere("iam.user.read"),
		iam.IAMServiceUpdateUserProcedure:      Everywhere("iam.user.write"),
		iam.IAMServiceSetUserDisabledProcedure: Everywhere("iam.user.write"),
		iam.IAMServiceSetUserPasswordProcedure: Everywhere("iam.user.write"),
		iam.IAMServiceChangePasswordProcedure:  Authenticated(),

		iam.IAMServiceCreateGroupProcedure:        Everywhere("iam.group.write"),
		iam.IAMServiceGetGroupProcedure:           Everywhere("iam.group.read"),
		iam.IAMServiceListGroupsProcedure:         Everywhere("iam.group.read"),
		iam.IAMServiceDeleteGroupProcedure:        Everywhere("iam.group.write"),
		iam.IAMServiceAddGroupMembersProcedure:    Everywhere("iam.group.write"),
		iam.IAMServiceRemoveGroupMembersProcedure: Everywhere("iam.group.write"),

		iam.IAMServiceCreateRoleProcedure:      Everywhere("iam.role.write"),
		iam.IAMServiceListRolesProcedure:       Everywhere("iam.role.read"),
		iam.IAMServiceUpdateRoleProcedure:      Everywhere("iam.role.write"),
		iam.IAMServiceDeleteRoleProcedure:      Everywhere("iam.role.write"),
		iam.IAMServiceListPermissionsProcedure: Authenticated(),

		iam.IAMServiceCreateGrantProcedure: Everywhere("iam.grant.write"),
		iam.IAMServiceListGrantsProcedure:  Everywhere("iam.grant.read"),
		iam.IAMServiceDeleteGrantProcedure: Everywhere("iam.grant.write"),

		// Own tokens need no permission; others' need PermTokenRead/Write
		// (checked by the handler).
		iam.IAMServiceCreateTokenProcedure:          Authenticated(),
		iam.IAMServiceListTokensProcedure:           Authenticated(),
		iam.IAMServiceRevokeTokenProcedure:          Authenticated(),
		iam.IAMServiceRevokeBootstrapTokenProcedure: Everywhere(PermTokenWrite),

		iam.IAMServiceLoginProcedure: Public(),
		// Logout ends the session it is given, valid or not.
		iam.IAMServiceLogoutProcedure: Public(),
		iam.IAMServiceWhoAmIProcedure: Authenticated(),

		// Filtered per event by the handler (PermAuditRead over the event's
		// object, PermIAMAuditRead for IAM events).
		iam.IAMServiceListAuditEventsProcedure: Somewhere(PermAuditRead),
	}
}
