package peercheck

import (
	"fmt"
	"testing"

	"github.com/strata-edge/strata/node/internal/nettest"
)

// listen returns the address of a listener accepting and closing
// connections until the test ends, and a closed port's address.
func listen(t *testing.T) (open, closed string) {
	t.Helper()
	l := nettest.Listen(t)
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	l2 := nettest.Listen(t)
	closed = l2.Addr().String()
	_ = l2.Close()
	return l.Addr().String(), closed
}

func TestRoundReportsReachability(t *testing.T) {
	open, closed := listen(t)
	c := New(Options{Self: "n0"})
	c.SetTargets([]Target{{"n2", closed}, {"n1", open}, {"n0", open}, {"n1", open}, {"n3", ""}})
	c.Round(t.Context())
	got := c.Report()
	if len(got) != 2 || got[0].GetNodeId() != "n1" || !got[0].GetOk() || got[1].GetNodeId() != "n2" || got[1].GetOk() || got[1].GetError() == "" {
		t.Fatalf("report %v: want n1 ok, n2 failed (self, duplicates and address-less peers skipped)", got)
	}
	// A peer leaving the set leaves the report.
	c.SetTargets([]Target{{"n1", open}})
	if got := c.Report(); len(got) != 1 || got[0].GetNodeId() != "n1" {
		t.Fatalf("report after n2 left: %v", got)
	}
}

// At most PerRound peers per round, rotating: after ceil(N/PerRound) rounds
// every peer has been probed once.
func TestRoundsRotate(t *testing.T) {
	open, _ := listen(t)
	c := New(Options{PerRound: 4, Concurrency: 2})
	var ts []Target
	for i := range 10 {
		ts = append(ts, Target{fmt.Sprintf("n%02d", i), open})
	}
	c.SetTargets(ts)
	for round, want := range []int{4, 8, 10} {
		c.Round(t.Context())
		if got := len(c.Report()); got != want {
			t.Fatalf("after round %d: %d peers reported, want %d", round+1, got, want)
		}
	}
}
