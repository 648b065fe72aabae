package cli

import (
	"regexp"
	"strings"

	"github.com/spf13/cobra"
)

// configFlags maps the API field paths of the config commands' requests
// (suffixes, with every index written []) to the CLI flags that set them, so
// an error names what the user typed: "--health-timeout", not
// "upstream.health_check.timeout_ms". The longest matching suffix wins.
var configFlags = map[string]string{
	// apps
	"name": "--name", "domains[]": "--domain", "domains": "--domain", "http_ports[]": "--http-port",
	"https_ports[]": "--https-port", "partitions[]": "--partition", "partitions": "--partition", "labels": "--label",
	"https_redirect": "--https-redirect", "hsts": "--hsts-max-age", "hsts.max_age_seconds": "--hsts-max-age",
	"hsts.preload": "--hsts-preload", "hsts.include_subdomains": "--hsts-include-subdomains",
	"limits": "--max-body, --max-header, --max-conns-per-ip or --tls-handshake-rate", "limits.max_request_body_bytes": "--max-body",
	"limits.max_request_header_bytes": "--max-header", "limits.max_conns_per_ip": "--max-conns-per-ip",
	"limits.tls_handshakes_per_second": "--tls-handshake-rate", "limits.tls_handshake_burst": "--tls-handshake-burst",
	// stream and forward-proxy apps
	"stream.listeners": "--stream-listen", "stream.listeners[]": "--stream-listen", "stream.upstream": "--stream-upstream",
	"stream.tls_mode": "--tls-mode", "stream.sni_routes": "--sni-route", "stream.sni_routes[]": "--sni-route",
	"stream.send_proxy_protocol": "--send-proxy-protocol", "stream.proxy_protocol_trusted_cidrs[]": "--proxy-protocol-from",
	"stream.connect_timeout_ms": "--connect-timeout", "stream.idle_timeout_ms": "--idle-timeout",
	"stream.max_connections": "--max-connections", "stream.drain_timeout_ms": "--drain-timeout",
	"stream.udp_session_idle_ms": "--udp-idle", "access.allow_cidrs[]": "--allow", "access.deny_cidrs[]": "--deny",
	"access.connections_per_second": "--conn-rate", "access.burst": "--conn-burst", "access.max_connections_per_ip": "--max-conns-per-ip",
	"forward_proxy.socks5_ports": "--socks5-port", "forward_proxy.socks5_ports[]": "--socks5-port",
	"forward_proxy.http_ports[]": "--http-proxy-port", "forward_proxy.credentials": "--credential",
	"forward_proxy.credentials[]": "--credential", "egress.allow_cidrs[]": "--egress-allow-cidr",
	"egress.allow_domains[]": "--egress-allow-domain", "egress.allow_ports[]": "--egress-allow-port",
	"egress.deny_cidrs[]": "--egress-deny-cidr", "forward_proxy.connect_timeout_ms": "--connect-timeout",
	"forward_proxy.idle_timeout_ms": "--idle-timeout",
	// upstreams
	"upstream.servers": "--server", "upstream.servers[]": "--server", "upstream.servers[].address": "--server",
	"upstream.servers[].weight": "--server", "upstream.policy": "--policy", "upstream.hash_key": "--hash-key",
	"upstream.retries": "--retries", "upstream.tls.sni": "--tls-sni", "upstream.timeouts.connect_ms": "--connect-timeout",
	"upstream.timeouts.read_ms": "--read-timeout", "health_check.path": "--health-path", "health_check.host": "--health-host",
	"health_check.interval_ms": "--health-interval", "health_check.timeout_ms": "--health-timeout",
	"health_check.healthy_threshold": "--healthy-threshold", "health_check.unhealthy_threshold": "--unhealthy-threshold",
	"health_check.expected_statuses[]": "--health-status", "health_check.max_fails": "--max-fails",
	"health_check.fail_timeout_ms": "--fail-timeout",
	// releases
	"to_release": "--to", "note": "--note", "index": "--index", "kind": "--kind", "object": "--name",
	// rules
	"upstream.name": "--name", "rule.name": "--name", "rule.when": "--when", "rule.actions": "--upstream, --redirect or --respond",
	"proxy.upstreams": "--upstream", "proxy.upstreams[]": "--upstream", "redirect.url": "--redirect", "redirect.status": "--status",
	"respond.status": "--respond", "respond.body": "--body", "respond.content_type": "--content-type",
	"request_headers.set": "--set-header", "request_headers.add": "--add-header", "request_headers.remove": "--remove-header",
	"response_headers.set": "--set-response-header", "response_headers.add": "--add-response-header",
	"response_headers.remove": "--remove-response-header", "rewrite.path_regex": "--rewrite-path",
	"rewrite.path_replacement": "--rewrite-path", "rewrite.query_set": "--query-set", "rewrite.query_remove": "--query-remove",
	"rewrite.query_remove[]": "--query-remove", "cache.ttl_s": "--cache-ttl", "cache.bypass": "--cache-bypass",
	"cache.override_origin": "--cache-override-origin", "cache.key_query_args": "--cache-key-query",
	"cache.key_headers": "--cache-key-header", "cache.key_cookies": "--cache-key-cookie",
	"cache.stale_while_revalidate_s": "--cache-stale-while-revalidate", "cache.stale_if_error_s": "--cache-stale-if-error",
	"cache.tag_header": "--cache-tag-header",
	"rate_limit.name":  "--rate-limit-name", "rate_limit.requests": "--rate-limit", "rate_limit.period_seconds": "--rate-limit",
	"rate_limit.burst": "--burst", "rate_limit.nodelay": "--delay", "rate_limit.delay_max_ms": "--delay-max",
	"rate_limit.keys": "--key", "rate_limit.keys[]": "--key", "rate_limit.keys[].header": "--key", "rate_limit.keys[].cookie": "--key",
	"rate_limit.keys[].query": "--key", "rate_limit.algorithm": "--algorithm", "rate_limit.on_exceed": "--on-exceed",
	"rate_limit.scope": "--scope", "rate_limit.status": "--rate-limit-status",
	"challenge.difficulty": "--challenge-difficulty", "challenge.clearance_seconds": "--challenge-clearance",
}

// dnsFlags is the same for the dns commands (positional arguments in
// capitals, as in their usage).
var dnsFlags = map[string]string{
	"name": "NAME", "nameservers[]": "--ns", "partitions[]": "--partition", "partitions": "--partition",
	"record.name": "NAME", "record.type": "TYPE", "record.data": "DATA", "record.ttl": "--ttl",
	"record.gateway_cluster": "--gateway", "record.match.countries[]": "--country",
	"record.match.continents[]": "--continent", "record.match.cidrs[]": "--cidr", "record.match.asns[]": "--asn",
	"record.match.isps[]": "--isp", "to_release": "RELEASE", "note": "--note",
}

// topologyFlags is the same for partitions, clusters and nodes (join
// tokens included).
var topologyFlags = map[string]string{
	"name": "--name", "partition": "--partition", "cluster": "--cluster", "parents.clusters[]": "--parents",
	"ttl_seconds": "--ttl", "description": "--description",
}

// certFlags is the same for the cert commands.
var certFlags = map[string]string{
	"name": "--name", "chain_pem": "--cert", "key_pem": "--key", "app_id": "--app", "app_ids[]": "--app",
	"domains": "--domain", "domains[]": "--domain", "directory": "--directory", "challenge": "--challenge",
	"eab_key_id": "--eab-kid", "eab_hmac_key": "--eab-hmac-file",
}

// metricsFlags is the same for the metrics and metric commands (NAME is a
// metric's id or name).
var metricsFlags = map[string]string{
	"app_id": "--app", "series": "--metric", "by": "--by", "limit": "--limit", "step_seconds": "--step",
	"node_id": "--node", "cluster_id": "--cluster", "start": "--since", "end": "--until",
	"name": "NAME", "metric": "NAME", "sql": "--sql", "description": "--description",
	"interval_seconds": "--interval", "partition_ids": "--partition", "partition_ids[]": "--partition",
	"expected_version": "--expect-version",
}

// fieldFlags is the table of each top-level command whose requests it
// describes.
var fieldFlags = map[string]map[string]string{
	"app": configFlags, "upstream": configFlags, "rule": configFlags, "release": configFlags, "dns": dnsFlags,
	"partition": topologyFlags, "cluster": topologyFlags, "node": topologyFlags, "cert": certFlags,
	"metrics": metricsFlags, "metric": metricsFlags,
	"metrics node": {"node_id": "NODE", "start": "--since", "end": "--until", "step_seconds": "--step"},
	// Subcommands that take arguments where the others take flags.
	"partition rename": {"name": "NEW-NAME", "partition": "PARTITION"},
	"partition delete": {"partition": "PARTITION"},
	"cluster rename":   {"name": "NEW-NAME", "cluster": "CLUSTER"},
	"cluster delete":   {"cluster": "CLUSTER"},
}

var indexRE = regexp.MustCompile(`\[[^\]]*\]`)

// flagFor returns the flag that sets the API field path of cmd's request,
// or "" when none does (the field is shown as it is).
func flagFor(cmd *cobra.Command, path string) string {
	if cmd == nil || path == "" {
		return ""
	}
	top := cmd
	for top.HasParent() && top.Parent().HasParent() {
		top = top.Parent()
	}
	table := fieldFlags[top.Name()+" "+cmd.Name()]
	if table == nil {
		table = fieldFlags[top.Name()]
	}
	if table == nil {
		return ""
	}
	p := indexRE.ReplaceAllString(path, "[]")
	// Longest path first: drop trailing components until a key matches.
	for p != "" {
		best := ""
		for _, c := range []string{p, strings.TrimSuffix(p, "[]")} {
			for k := range table {
				match := c == k || (strings.Contains(k, ".") && strings.HasSuffix(c, "."+k))
				if match && len(k) > len(best) {
					best = k
				}
			}
		}
		if best != "" {
			return table[best]
		}
		i := strings.LastIndex(p, ".")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return ""
}
