package stats

import (
	"context"
	"testing"
	"time"
)

// A node with an XDP filter sends its counters with every system sample,
// by reason in name order; without one, none.
func TestSampleCarriesXDPCounters(t *testing.T) {
	s := sampler{xdp: func() map[string]uint64 { return map[string]uint64{"syn_rate": 995, "passed": 12} }}
	got := s.sample(context.Background(), time.Now()).GetXdpPackets()
	if len(got) != 2 || got[0].GetName() != "passed" || got[0].GetCount() != 12 || got[1].GetName() != "syn_rate" || got[1].GetCount() != 995 {
		t.Fatalf("xdp_packets = %v, want passed 12, syn_rate 995", got)
	}
	none := sampler{xdp: func() map[string]uint64 { return nil }}
	if got := none.sample(context.Background(), time.Now()).GetXdpPackets(); len(got) != 0 {
		t.Fatalf("xdp_packets without a filter = %v", got)
	}
}
