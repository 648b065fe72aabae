package ddos

import (
	"fmt"
	"net/netip"
	"slices"

	"google.golang.org/protobuf/proto"

	ddosv1 "github.com/strata-edge/strata/gen/strata/ddos/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/ddos/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/release"
)

// Limits of a policy. The deny list is bounded by the event size too
// (eventstore.MaxDataLen): 100,000 IPv6 prefixes do not fit in one event.
const (
	MaxDenyCIDRs  = 100_000
	MaxAllowCIDRs = 10_000
	// MaxRate bounds packets per second and burst: above it a per-source
	// limit limits nothing (10 Mpps is a whole core of XDP drops).
	MaxRate = 10_000_000
)

// Policy is the aggregate of one cluster's DDoS policy: its release state
// (pkg/release: working copy, pending changes, the releases staging and
// stable nodes run). It exists from its first update; it is never deleted
// (a disabled policy filters nothing). Commands validate and return events;
// state changes only in Apply.
type Policy struct {
	cluster   string
	partition string // where the cluster's nodes get it
	version   uint64 // global position of the newest event
	exists    bool
	rel       release.State[*ddosv1.DdosPolicy]
}

// policyKind is the release core's view of policies: equal content ignores
// the release number.
var policyKind = release.Kind[*ddosv1.DdosPolicy]{Name: "ddos policy", Promote: "strata ddos release promote --cluster",
	Same: release.SameExcept[*ddosv1.DdosPolicy]("version")}

// NewPolicy returns the empty aggregate of cluster (rehydrate with Apply).
func NewPolicy(cluster string) *Policy { return &Policy{cluster: cluster} }

func (p *Policy) Cluster() string       { return p.cluster }
func (p *Policy) Partition() string     { return p.partition }
func (p *Policy) Version() uint64       { return p.version }
func (p *Policy) Exists() bool          { return p.exists }
func (p *Policy) Pending() int          { return p.rel.Pending() }
func (p *Policy) LatestRelease() uint64 { return p.rel.Latest() }

// Releases is the policy's release state (release.Aggregate).
func (p *Policy) Releases() *release.State[*ddosv1.DdosPolicy] { return &p.rel }

// Working is the working copy (shared; do not modify); before the first
// update, the empty policy of the cluster.
func (p *Policy) Working() *ddosv1.DdosPolicy {
	if p.rel.Working == nil {
		return &ddosv1.DdosPolicy{Id: p.cluster, ClusterId: p.cluster}
	}
	return p.rel.Working
}

// Released is the newest release (staging nodes); Stable what stable nodes
// run. nil: none.
func (p *Policy) Released() *ddosv1.DdosPolicy { return p.rel.Newest() }
func (p *Policy) Stable() *ddosv1.DdosPolicy   { return p.rel.Stable() }

// StableRelease and StagingRelease are the release numbers the tracks run.
func (p *Policy) StableRelease() uint64  { return p.rel.StableNumber() }
func (p *Policy) StagingRelease() uint64 { return p.rel.Latest() }

// Update replaces the working copy with in, validated and normalized
// (prefixes masked, sorted, without duplicates). partition is the cluster's.
func (p *Policy) Update(partition string, in *ddosv1.DdosPolicy) ([]proto.Message, error) {
	pol, err := Normalize(p.cluster, in)
	if err != nil {
		return nil, err
	}
	if p.exists && proto.Equal(pol, p.rel.Working) && partition == p.partition {
		return nil, nil // nothing changes: no pending change either
	}
	e := &ev.PolicyUpdated{ClusterId: p.cluster, PartitionId: partition, Policy: pol}
	if err := checkEventSize(e); err != nil {
		return nil, err
	}
	return []proto.Message{e}, nil
}

// Release sends the pending changes to the nodes; a staging release
// reaches only the staging nodes.
func (p *Policy) Release(note string, staging bool) ([]proto.Message, error) {
	if !p.exists {
		return nil, apierr.FailedPrecondition(fmt.Sprintf("cluster %s has no ddos policy to release; set one with strata ddos policy set", p.cluster))
	}
	if err := policyKind.CheckRelease(p.cluster, &p.rel, staging); err != nil {
		return nil, err
	}
	return []proto.Message{&ev.PolicyReleased{ClusterId: p.cluster, Note: note, Staging: staging}}, nil
}

// Promote makes the newest release, a staging release, live on stable nodes.
func (p *Policy) Promote(note string) ([]proto.Message, error) {
	if !p.exists {
		return nil, apierr.NotFound("ddos policy", p.cluster)
	}
	if err := policyKind.CheckPromote(p.cluster, &p.rel); err != nil {
		return nil, err
	}
	return []proto.Message{&ev.PolicyPromoted{ClusterId: p.cluster, Note: note, Release: p.rel.Latest()}}, nil
}

// Revert releases the content of release to, replayed from history (the
// policy's events, oldest first), on every node; the working copy becomes
// that content too.
func (p *Policy) Revert(to uint64, note string, history []proto.Message) ([]proto.Message, error) {
	if !p.exists {
		return nil, apierr.NotFound("ddos policy", p.cluster)
	}
	if err := policyKind.CheckTarget(p.cluster, &p.rel, to); err != nil {
		return nil, err
	}
	content, _, err := release.At(NewPolicy(p.cluster), history, to)
	if err != nil {
		return nil, fmt.Errorf("ddos policy %s: %w", p.cluster, err)
	}
	if policyKind.Unchanged(&p.rel, content, false) {
		return nil, apierr.FailedPrecondition(fmt.Sprintf("nothing to release: release %d of the ddos policy of cluster %s has the content of release %d, which every node runs", to, p.cluster, p.rel.Latest()))
	}
	c := proto.Clone(content).(*ddosv1.DdosPolicy)
	c.Version = 0
	return []proto.Message{&ev.PolicyReverted{ClusterId: p.cluster, ToRelease: to, Note: note, PartitionId: p.partition, Policy: c}}, nil
}

// Apply folds one event (at global position pos) into the state.
func (p *Policy) Apply(pos uint64, msg proto.Message) {
	p.version = pos
	switch m := msg.(type) {
	case *ev.PolicyUpdated:
		p.exists = true
		p.partition = m.GetPartitionId()
		p.rel.Working = m.GetPolicy()
		p.rel.Changed()
	case *ev.PolicyReleased:
		n := p.rel.Latest() + 1
		p.rel.Released(n, p.numbered(n), false, m.GetStaging())
	case *ev.PolicyPromoted:
		p.rel.Promoted()
	case *ev.PolicyReverted:
		p.rel.Working = m.GetPolicy()
		if m.GetPartitionId() != "" {
			p.partition = m.GetPartitionId()
		}
		n := p.rel.Latest() + 1
		p.rel.Reverted(n, p.numbered(n), false, p.rel.Working)
	}
}

// numbered is the working copy as release n.
func (p *Policy) numbered(n uint64) *ddosv1.DdosPolicy {
	r := proto.Clone(p.Working()).(*ddosv1.DdosPolicy)
	r.Version = n
	return r
}

// Normalize validates in as the policy of cluster and returns it with
// canonical prefixes (masked, sorted, no duplicates), id and cluster_id set and
// version 0. Errors name the field ("policy.deny_cidrs[3]").
func Normalize(cluster string, in *ddosv1.DdosPolicy) (*ddosv1.DdosPolicy, error) {
	var f apierr.Fields
	out := &ddosv1.DdosPolicy{Id: cluster, ClusterId: cluster, Enabled: in.GetEnabled(),
		TcpSyn: rate(&f, "policy.tcp_syn", in.GetTcpSyn()), UdpDns: rate(&f, "policy.udp_dns", in.GetUdpDns()),
		Icmp: rate(&f, "policy.icmp", in.GetIcmp()), DropMalformed: in.GetDropMalformed(), DropFragments: in.GetDropFragments(),
		SynCookies: in.GetSynCookies()}
	if out.SynCookies && out.TcpSyn == nil {
		f.Add("policy.syn_cookies", "needs a tcp_syn limit: the cookies answer the SYNs over it")
	}
	out.DenyCidrs = prefixes(&f, "policy.deny_cidrs", in.GetDenyCidrs(), MaxDenyCIDRs)
	out.AllowCidrs = prefixes(&f, "policy.allow_cidrs", in.GetAllowCidrs(), MaxAllowCIDRs)
	if err := f.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func rate(f *apierr.Fields, field string, r *ddosv1.RateLimit) *ddosv1.RateLimit {
	if r.GetPacketsPerSecond() == 0 && r.GetBurst() == 0 {
		return nil // off
	}
	if r.GetPacketsPerSecond() == 0 {
		f.Add(field+".burst", "a burst needs a rate: set packets_per_second too")
	}
	if r.GetPacketsPerSecond() > MaxRate {
		f.Add(field+".packets_per_second", fmt.Sprintf("%d is more than the limit of %d", r.GetPacketsPerSecond(), MaxRate))
	}
	if r.GetBurst() > MaxRate {
		f.Add(field+".burst", fmt.Sprintf("%d is more than the limit of %d", r.GetBurst(), MaxRate))
	}
	return &ddosv1.RateLimit{PacketsPerSecond: r.GetPacketsPerSecond(), Burst: r.GetBurst()}
}

// ParsePrefix parses a CIDR or a bare address (a host prefix), masked.
func ParsePrefix(s string) (netip.Prefix, error) {
	if pr, err := netip.ParsePrefix(s); err == nil {
		return pr.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR (192.0.2.0/24, 2001:db8::/32) or an address", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func prefixes(f *apierr.Fields, field string, in []string, limit int) []string {
	if len(in) > limit {
		// Before parsing: a million entries cost seconds to refuse later.
		f.Add(field, fmt.Sprintf("%d entries, more than the limit of %d", len(in), limit))
		return nil
	}
	ps := make([]netip.Prefix, 0, len(in))
	for i, s := range in {
		pr, err := ParsePrefix(s)
		if err != nil {
			if len(*f) < 20 { // a list of bad lines says enough with the first ones
				f.Add(fmt.Sprintf("%s[%d]", field, i), err.Error())
			}
			continue
		}
		ps = append(ps, pr)
	}
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	ps = slices.Compact(ps)
	if len(ps) == 0 {
		return nil
	}
	out := make([]string, len(ps))
	for i, pr := range ps {
		out[i] = pr.String()
	}
	return out
}

// checkEventSize refuses an event the store would refuse, naming the field
// that makes it large (policy.deny_cidrs, in practice).
func checkEventSize(m *ev.PolicyUpdated) error {
	data, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	return apierr.CheckEventSize(m, data)
}
