package mmsg_test

import (
	"net"
	"testing"
	"time"

	"github.com/strata-edge/strata/node/internal/mmsg"

	"github.com/strata-edge/strata/node/internal/nettest"
)

// A burst is read into slots with its sender; a datagram larger than its
// slot is nil on Linux (one slot per read elsewhere, so only the count
// differs).
func TestReader(t *testing.T) {
	srv := nettest.UDP(t)
	cl, err := net.DialUDP("udp", nil, srv.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	r, err := mmsg.NewReader(srv, 4, 8)
	if err != nil {
		t.Fatal(err)
	}
	sent := []string{"a", "bb", "too long for a slot"}
	for _, s := range sent {
		if _, err := cl.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond) // the burst is queued before the first read
	srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got []string
	for len(got) < len(sent) {
		n, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if from := r.From(i); from != cl.LocalAddr().(*net.UDPAddr).AddrPort() {
				t.Fatalf("from %v, want %v", from, cl.LocalAddr())
			}
			got = append(got, string(r.Packet(i)))
		}
	}
	if got[0] != "a" || got[1] != "bb" || (got[2] != "" && got[2] != "too long") {
		t.Fatalf("got %q", got)
	}
}
