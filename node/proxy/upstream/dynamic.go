package upstream

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// Dynamic upstreams take their servers from a named server set
// (UpstreamEndpoints, synced without releases; Upstream.endpoints). The
// set is resolved into ordinary servers when the config is compiled, so
// balancing and health checks are those of any upstream. When only a set
// changes, the upstream is built again with the new servers and takes over
// the connection pools and health state of the servers it keeps (Adopt).

// ErrNoEndpoints means a dynamic upstream has no server: its set is
// missing on this node or has no ready endpoint. The proxy answers 502.
var ErrNoEndpoints = errors.New("no ready endpoint")

// Sets indexes a snapshot's server sets by id.
func Sets(sets []*configv1.UpstreamEndpoints) map[string]*configv1.UpstreamEndpoints {
	out := make(map[string]*configv1.UpstreamEndpoints, len(sets))
	for _, s := range sets {
		out[s.GetId()] = s
	}
	return out
}

// Resolve returns what an upstream is built from: cfg itself, or, for one
// naming a set, a copy with the set's ready endpoints as its servers (none
// when the set is missing). cfg is never changed.
func Resolve(cfg *configv1.Upstream, sets map[string]*configv1.UpstreamEndpoints) *configv1.Upstream {
	if cfg.GetEndpoints() == "" {
		return cfg
	}
	out := proto.CloneOf(cfg)
	out.Servers = nil
	for _, e := range sets[cfg.GetEndpoints()].GetEndpoints() {
		if e.GetReady() {
			out.Servers = append(out.Servers, &configv1.Server{Address: e.GetAddress(), Weight: max(e.GetWeight(), 1)})
		}
	}
	return out
}

// Dynamic returns the set a dynamic upstream names ("" for others).
func (u *Upstream) Dynamic() string { return u.endpoints }

// Empty reports whether a dynamic upstream has no server taking traffic
// (a split gives it no share).
func (u *Upstream) Empty() bool { return u.endpoints != "" && u.primary == nil && u.backup == nil }

// noEndpoints is Pick's error for a dynamic upstream without servers.
func (u *Upstream) noEndpoints() error {
	return fmt.Errorf("endpoints set %q has no ready endpoint on this node: %w", u.endpoints, ErrNoEndpoints)
}

// settingsKey identifies everything of cfg but its servers: two upstreams
// with the same one build servers alike, so pools can move between them.
func settingsKey(appID string, cfg *configv1.Upstream) string {
	c := proto.CloneOf(cfg)
	c.Servers = nil
	return Key(appID, c)
}

// Adopt makes u, built to replace prev (the same upstream of the same app
// with other servers), take over the connection pools and health verdicts
// of the servers both have, so that a change of the set keeps connections
// to unchanged servers. It does nothing unless the other settings are
// equal. Call it before u serves; the pools leave prev when u starts.
func (u *Upstream) Adopt(prev *Upstream) {
	if prev == nil || prev == u || prev.settings != u.settings {
		return
	}
	byAddr := make(map[string]*Server, len(prev.servers))
	for _, s := range prev.servers {
		byAddr[s.Addr] = s
	}
	for _, s := range u.servers {
		p := byAddr[s.Addr]
		if p == nil {
			continue
		}
		s.fast = p.fast
		if p.stdReady.Load() {
			s.h1, s.h2 = p.h1, p.h2
			s.stdOnce.Do(func() {})
			s.stdReady.Store(true)
		}
		s.down.Store(p.down.Load())
		s.fails.Store(p.fails.Load())
		s.ejectedUntil.Store(p.ejectedUntil.Load())
		s.note.Store(p.note.Load())
		u.adopted = append(u.adopted, p)
	}
}
