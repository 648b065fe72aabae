package cli

import (
	"fmt"
	"maps"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// parseServer parses "HOST:PORT[=WEIGHT]" (weight defaults to 1).
func parseServer(s string, backup bool) (*configv1.Server, error) {
	addr, weightStr, hasWeight := strings.Cut(s, "=")
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%q: want HOST:PORT[=WEIGHT]: %w", s, err)
	}
	if host == "" {
		return nil, fmt.Errorf("%q: the host is empty", s)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return nil, fmt.Errorf("%q: port %q is not a number from 1 to 65535", s, port)
	}
	weight := uint64(1)
	if hasWeight {
		weight, err = strconv.ParseUint(weightStr, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%q: weight %q is not a whole number >= 0", s, weightStr)
		}
	}
	return &configv1.Server{Address: addr, Weight: uint32(weight), Backup: backup}, nil
}

// parseServers parses every --server and --backup value, naming the flag on error.
func parseServers(primary, backup []string) ([]*configv1.Server, error) {
	var out []*configv1.Server
	for _, list := range []struct {
		flag   string
		values []string
	}{{"--server", primary}, {"--backup", backup}} {
		for _, v := range list.values {
			srv, err := parseServer(v, list.flag == "--backup")
			if err != nil {
				return nil, usagef("%s %w", list.flag, err)
			}
			out = append(out, srv)
		}
	}
	return out, nil
}

// parseKV parses "KEY=VALUE"; the key must not be empty, the value may be.
func parseKV(s string) (key, value string, err error) {
	key, value, ok := strings.Cut(s, "=")
	if !ok {
		return "", "", fmt.Errorf("%q: want KEY=VALUE", s)
	}
	if strings.TrimSpace(key) == "" {
		return "", "", fmt.Errorf("%q: the key is empty", s)
	}
	return key, value, nil
}

// parseKVs parses repeated KEY=VALUE flags into a map; a repeated key is an error.
func parseKVs(flag string, values []string) (map[string]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(values))
	for _, v := range values {
		k, val, err := parseKV(v)
		if err != nil {
			return nil, usagef("%s %w", flag, err)
		}
		if _, dup := m[k]; dup {
			return nil, usagef("%s: key %q given twice", flag, k)
		}
		m[k] = val
	}
	return m, nil
}

// parseHeaders parses repeated "NAME=VALUE" flags into headers, keeping order.
func parseHeaders(flag string, values []string) ([]*configv1.Header, error) {
	var out []*configv1.Header
	for _, v := range values {
		k, val, err := parseKV(v)
		if err != nil {
			return nil, usagef("%s %w", flag, err)
		}
		out = append(out, &configv1.Header{Name: k, Value: val})
	}
	return out, nil
}

// parseWeightedUpstream parses "NAME[=WEIGHT]" (weight defaults to 1).
func parseWeightedUpstream(s string) (*configv1.WeightedUpstream, error) {
	name, weightStr, hasWeight := strings.Cut(s, "=")
	if name == "" {
		return nil, fmt.Errorf("%q: want NAME[=WEIGHT]", s)
	}
	weight := uint64(1)
	if hasWeight {
		var err error
		weight, err = strconv.ParseUint(weightStr, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%q: weight %q is not a whole number >= 0", s, weightStr)
		}
	}
	return &configv1.WeightedUpstream{Upstream: name, Weight: uint32(weight)}, nil
}

// millis converts a duration flag to whole milliseconds.
func millis(flag string, d time.Duration) (uint32, error) {
	if d < 0 {
		return 0, usagef("%s: %s is negative", flag, d)
	}
	if d%time.Millisecond != 0 {
		return 0, usagef("%s: %s is not a whole number of milliseconds", flag, d)
	}
	ms := d.Milliseconds()
	if ms > math.MaxUint32 {
		return 0, usagef("%s: %s is too long", flag, d)
	}
	return uint32(ms), nil
}

var policies = map[string]configv1.BalancePolicy{
	"round_robin": configv1.BalancePolicy_BALANCE_POLICY_ROUND_ROBIN,
	"weighted":    configv1.BalancePolicy_BALANCE_POLICY_WEIGHTED,
	"least_conn":  configv1.BalancePolicy_BALANCE_POLICY_LEAST_CONNECTIONS,
	"hash":        configv1.BalancePolicy_BALANCE_POLICY_CONSISTENT_HASH,
}

func parsePolicy(s string) (configv1.BalancePolicy, error) {
	if p, ok := policies[strings.ToLower(s)]; ok {
		return p, nil
	}
	names := slices.Sorted(maps.Keys(policies))
	return 0, usagef("--policy: %q is not a policy; use one of %s", s, strings.Join(names, ", "))
}

func policyName(p configv1.BalancePolicy) string {
	for n, v := range policies {
		if v == p {
			return n
		}
	}
	return "round_robin" // unspecified: the node's default
}

// parsePorts converts port flags, naming the flag on a bad value.
func parsePorts(flag string, ports []uint) ([]uint32, error) {
	out := make([]uint32, 0, len(ports))
	for _, p := range ports {
		if p == 0 || p > 65535 {
			return nil, usagef("%s: %d is not a port from 1 to 65535", flag, p)
		}
		out = append(out, uint32(p))
	}
	return out, nil
}
