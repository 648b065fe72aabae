package nodes

import "testing"

func TestPeerFailedRule(t *testing.T) {
	for _, tc := range []struct {
		reporters, unreachable int
		want                   bool
	}{
		{0, 0, false}, {1, 0, false}, {1, 1, true}, {2, 1, false}, {2, 2, true},
		{3, 1, false}, {3, 2, true}, {4, 2, false}, {4, 3, true}, {5, 3, true},
	} {
		if got := peerFailed(tc.reporters, tc.unreachable); got != tc.want {
			t.Errorf("%d of %d peers cannot reach it: failed %v, want %v", tc.unreachable, tc.reporters, got, tc.want)
		}
	}
}
