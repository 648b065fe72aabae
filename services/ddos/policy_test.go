package ddos

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	ddosv1 "github.com/strata-edge/strata/gen/strata/ddos/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/ddos/v1"
	"github.com/strata-edge/strata/pkg/aggtest"
	"github.com/strata-edge/strata/pkg/apierr"
)

func updated(deny ...string) *ev.PolicyUpdated {
	return &ev.PolicyUpdated{ClusterId: "cls_1", PartitionId: "p1", Policy: &ddosv1.DdosPolicy{Id: "cls_1", ClusterId: "cls_1", Enabled: true, DenyCidrs: deny}}
}

func TestUpdateNormalizes(t *testing.T) {
	p := NewPolicy("cls_1")
	got, err := p.Update("p1", &ddosv1.DdosPolicy{ClusterId: "ignored", Version: 7, Enabled: true,
		DenyCidrs:  []string{"198.51.100.7/24", "192.0.2.1", "2001:db8::1/32", "192.0.2.1/32", "::ffff:203.0.113.9"},
		AllowCidrs: []string{"10.0.0.0/8"},
		TcpSyn:     &ddosv1.RateLimit{PacketsPerSecond: 100, Burst: 200}, UdpDns: &ddosv1.RateLimit{}, DropFragments: true, SynCookies: true})
	aggtest.Then(t, got, err, &ev.PolicyUpdated{ClusterId: "cls_1", PartitionId: "p1", Policy: &ddosv1.DdosPolicy{
		Id: "cls_1", ClusterId: "cls_1", Enabled: true,
		DenyCidrs:  []string{"192.0.2.1/32", "198.51.100.0/24", "203.0.113.9/32", "2001:db8::/32"},
		AllowCidrs: []string{"10.0.0.0/8"},
		TcpSyn:     &ddosv1.RateLimit{PacketsPerSecond: 100, Burst: 200}, DropFragments: true, SynCookies: true}})
}

func TestUpdateUnchangedRecordsNothing(t *testing.T) {
	p := aggtest.Given(NewPolicy("cls_1"), updated("192.0.2.0/24"))
	got, err := p.Update("p1", &ddosv1.DdosPolicy{Enabled: true, DenyCidrs: []string{"192.0.2.9/24"}})
	aggtest.Then(t, got, err)
}

func TestUpdateRejects(t *testing.T) {
	many := make([]string, MaxDenyCIDRs+1)
	for i := range many {
		many[i] = "192.0.2.1"
	}
	for _, tc := range []struct {
		name  string
		in    *ddosv1.DdosPolicy
		field string
	}{
		{"bad deny CIDR", &ddosv1.DdosPolicy{DenyCidrs: []string{"192.0.2.0/24", "192.0.2.300/24"}}, "policy.deny_cidrs[1]"},
		{"bad allow CIDR", &ddosv1.DdosPolicy{AllowCidrs: []string{"example.com"}}, "policy.allow_cidrs[0]"},
		{"too many deny entries", &ddosv1.DdosPolicy{DenyCidrs: many}, "policy.deny_cidrs"},
		{"burst without rate", &ddosv1.DdosPolicy{Icmp: &ddosv1.RateLimit{Burst: 5}}, "policy.icmp.burst"},
		{"SYN cookies without a SYN limit", &ddosv1.DdosPolicy{SynCookies: true, UdpDns: &ddosv1.RateLimit{PacketsPerSecond: 5}}, "policy.syn_cookies"},
		{"rate too high", &ddosv1.DdosPolicy{TcpSyn: &ddosv1.RateLimit{PacketsPerSecond: MaxRate + 1}}, "policy.tcp_syn.packets_per_second"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NewPolicy("cls_1").Update("p1", tc.in)
			aggtest.Rejected(t, got, err, apierr.KindInvalid, tc.field)
		})
	}
}

// A deny list within the entry limit that does not fit in one event is
// refused before it reaches the store, naming the list.
func TestUpdateRejectsAnEventTooLarge(t *testing.T) {
	deny := make([]string, 60_000)
	for i := range deny {
		deny[i] = fmt.Sprintf("2001:db8:%x:%x::1/128", i>>16, i&0xffff)
	}
	got, err := NewPolicy("cls_1").Update("p1", &ddosv1.DdosPolicy{DenyCidrs: deny})
	aggtest.Rejected(t, got, err, apierr.KindInvalid, "policy.deny_cidrs")
	aggtest.Violation(t, err, "policy.deny_cidrs", "more than the limit of")
	// 40,000 IPv4 host entries fit.
	deny = deny[:40_000]
	for i := range deny {
		deny[i] = fmt.Sprintf("10.%d.%d.1", i>>8, i&0xff)
	}
	if _, err := NewPolicy("cls_1").Update("p1", &ddosv1.DdosPolicy{DenyCidrs: deny}); err != nil {
		t.Fatalf("40,000 IPv4 entries: %v", err)
	}
}

func TestReleasePromoteRevert(t *testing.T) {
	t.Run("nothing to release before the first update", func(t *testing.T) {
		got, err := NewPolicy("cls_1").Release("", false)
		aggtest.Rejected(t, got, err, apierr.KindFailedPrecondition, "")
	})
	t.Run("release", func(t *testing.T) {
		p := aggtest.Given(NewPolicy("cls_1"), updated("192.0.2.0/24"))
		got, err := p.Release("first", false)
		aggtest.Then(t, got, err, &ev.PolicyReleased{ClusterId: "cls_1", Note: "first"})
	})
	t.Run("nothing pending", func(t *testing.T) {
		p := aggtest.Given(NewPolicy("cls_1"), updated("192.0.2.0/24"), &ev.PolicyReleased{ClusterId: "cls_1"})
		got, err := p.Release("", false)
		aggtest.Rejected(t, got, err, apierr.KindFailedPrecondition, "")
		if p.Stable().GetVersion() != 1 || p.Released() != p.Stable() {
			t.Fatalf("stable %v, staging %v", p.Stable(), p.Released())
		}
	})
	t.Run("staging then promote", func(t *testing.T) {
		p := aggtest.Given(NewPolicy("cls_1"), updated("192.0.2.0/24"), &ev.PolicyReleased{ClusterId: "cls_1"},
			updated("198.51.100.0/24"), &ev.PolicyReleased{ClusterId: "cls_1", Staging: true})
		if p.Stable().GetDenyCidrs()[0] != "192.0.2.0/24" || p.Released().GetDenyCidrs()[0] != "198.51.100.0/24" {
			t.Fatalf("stable %v, staging %v", p.Stable(), p.Released())
		}
		got, err := p.Promote("go")
		aggtest.Then(t, got, err, &ev.PolicyPromoted{ClusterId: "cls_1", Note: "go", Release: 2})
	})
	t.Run("revert", func(t *testing.T) {
		history := []proto.Message{updated("192.0.2.0/24"), &ev.PolicyReleased{ClusterId: "cls_1"},
			updated("198.51.100.0/24"), &ev.PolicyReleased{ClusterId: "cls_1"}}
		p := aggtest.Given(NewPolicy("cls_1"), history...)
		got, err := p.Revert(1, "back", history)
		aggtest.Then(t, got, err, &ev.PolicyReverted{ClusterId: "cls_1", ToRelease: 1, Note: "back", PartitionId: "p1",
			Policy: updated("192.0.2.0/24").GetPolicy()})
		reverted := got[0]
		p.Apply(5, reverted)
		if p.LatestRelease() != 3 || p.Stable().GetDenyCidrs()[0] != "192.0.2.0/24" || p.Pending() != 0 {
			t.Fatalf("after revert: release %d, stable %v, pending %d", p.LatestRelease(), p.Stable(), p.Pending())
		}
		got, err = p.Revert(9, "", history)
		aggtest.Rejected(t, got, err, apierr.KindInvalid, "")
		got, err = p.Revert(3, "", append(history, reverted))
		if err == nil || !strings.Contains(err.Error(), "nothing to release") {
			t.Fatalf("revert to what runs: %v %v", got, err)
		}
	})
}

func TestCheckBlock(t *testing.T) {
	ok := &ddosv1.BlockRequest{Cidrs: []string{"192.0.2.7/24"}, Ttl: dur("10m"), Scope: &ddosv1.BlockScope{Target: &ddosv1.BlockScope_All{All: true}}}
	cidrs, err := checkBlock(ok)
	if err != nil || len(cidrs) != 1 || cidrs[0] != "192.0.2.0/24" {
		t.Fatalf("checkBlock = %v, %v", cidrs, err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(r *ddosv1.BlockRequest)
		field string
	}{
		{"no cidr", func(r *ddosv1.BlockRequest) { r.Cidrs = nil }, "cidrs"},
		{"bad cidr", func(r *ddosv1.BlockRequest) { r.Cidrs = []string{"x"} }, "cidrs[0]"},
		{"no ttl", func(r *ddosv1.BlockRequest) { r.Ttl = nil }, "ttl"},
		{"ttl too short", func(r *ddosv1.BlockRequest) { r.Ttl = dur("500ms") }, "ttl"},
		{"ttl too long", func(r *ddosv1.BlockRequest) { r.Ttl = dur("169h") }, "ttl"},
		{"no scope", func(r *ddosv1.BlockRequest) { r.Scope = nil }, "scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := proto.Clone(ok).(*ddosv1.BlockRequest)
			tc.edit(r)
			_, err := checkBlock(r)
			aggtest.Rejected(t, nil, err, apierr.KindInvalid, tc.field)
		})
	}
}

// FuzzNormalize: any list either is refused naming a field or normalizes
// to a fixed point (normalizing again changes nothing), without panics.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"192.0.2.0/24", "2001:db8::1", "::ffff:1.2.3.4/128", "10.0.0.1/8", "1.2.3.4/33", "", "fe80::1%eth0"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, deny, allow string) {
		in := &ddosv1.DdosPolicy{Enabled: true, DenyCidrs: strings.Split(deny, ","), AllowCidrs: strings.Split(allow, ",")}
		out, err := Normalize("cls_1", in)
		if err != nil {
			if len(apierr.Violations(err)) == 0 {
				t.Fatalf("refused without naming a field: %v", err)
			}
			return
		}
		again, err := Normalize("cls_1", out)
		if err != nil || !proto.Equal(out, again) {
			t.Fatalf("not a fixed point: %v -> %v (%v)", out, again, err)
		}
	})
}
