package tier

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"testing"
)

func nodes(prefix string, n int) []Node {
	var out []Node
	for i := range n {
		out = append(out, Node{ID: fmt.Sprintf("%s%d", prefix, i), Addr: "127.0.0.1:" + strconv.Itoa(10000+i)})
	}
	return out
}

// Every node computes the same order for a key whatever order it learned
// the nodes in; keys spread over the nodes; removing a node moves only the
// keys it had.
func TestRankRendezvous(t *testing.T) {
	ns := nodes("n", 4)
	rev := slices.Clone(ns)
	slices.Reverse(rev)
	count := map[string]int{}
	const keys = 4000
	for i := range keys {
		kh := HashKey("shop.example.com/img/" + strconv.Itoa(i) + ".png?")
		a, b := Rank(kh, ns), Rank(kh, rev)
		if !slices.Equal(a, b) {
			t.Fatalf("key %d: order depends on input order: %v vs %v", i, a, b)
		}
		count[a[0].ID]++
		without := Rank(kh, slices.DeleteFunc(slices.Clone(ns), func(n Node) bool { return n.ID == "n2" }))
		if a[0].ID != "n2" && without[0] != a[0] {
			t.Fatalf("key %d moved from %s to %s when n2 left", i, a[0].ID, without[0].ID)
		}
		if a[0].ID == "n2" && without[0] != a[1] {
			t.Fatalf("key %d of n2 went to %s, want its backup %s", i, without[0].ID, a[1].ID)
		}
	}
	for id, c := range count {
		if c < keys/4*7/10 || c > keys/4*13/10 {
			t.Fatalf("node %s owns %d of %d keys: %v", id, c, keys, count)
		}
	}
}

// Candidates: clusters in preference order, those without healthy nodes
// skipped, PerCluster nodes each, the node itself never.
func TestCandidates(t *testing.T) {
	tr := New("s1")
	if c := tr.Candidates("k", 2); c != nil {
		t.Fatalf("no parents: %v", c)
	}
	tr.SetParents([]string{"down", "shield", "shield-b"})
	tr.SetNodes(map[string][]Node{
		"shield":   {{"s1", "a:1"}, {"s2", "a:2"}, {"s3", "a:3"}},
		"shield-b": {{"b1", "b:1"}},
		"edge":     {{"e1", "e:1"}},
		"down":     nil,
	})
	c := tr.Candidates("k", 2)
	if !tr.Any() || len(c) != 3 || c[0].ID[0] != 's' || c[1].ID[0] != 's' || c[2].ID != "b1" {
		t.Fatalf("candidates %v: want two of s2/s3, then b1", c)
	}
	for _, n := range c {
		if n.ID == "s1" {
			t.Fatalf("the node itself is a candidate: %v", c)
		}
	}
	if all := tr.Candidates("k", 0); len(all) != 3 {
		t.Fatalf("perCluster 0: %v", all)
	}
	tr.SetParents(nil)
	if c := tr.Candidates("k", 2); c != nil || tr.Parents() || tr.Any() {
		t.Fatalf("parents removed: %v", c)
	}
}

// Fetch moves on from a refused connection, a 5xx and an answer the
// parent gave as to a client (no AcceptedHeader: it does not count this
// node as a peer) to the next candidate, and reports ErrNoParent when
// none answers.
func TestFetchBackup(t *testing.T) {
	var hits []string
	srv := func(name string, status int, accept bool) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits = append(hits, name+" "+r.Host+" "+r.URL.RequestURI())
			if accept {
				w.Header().Set(AcceptedHeader, "1")
			}
			w.WriteHeader(status)
		}))
		t.Cleanup(s.Close)
		return s.Listener.Addr().String()
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := ln.Addr().String()
	ln.Close()
	bad, good, refusing := srv("bad", 503, true), srv("good", 200, true), srv("refusing", 301, false)

	tr := New("edge1")
	t.Cleanup(tr.Close)
	tr.SetParents([]string{"a", "b"})
	// Two clusters of one node each: the order is the clusters' order.
	tr.SetNodes(map[string][]Node{"a": {{"a1", refused}}, "b": {{"b1", bad}}})
	req, _ := http.NewRequest("GET", "http://shop.example.com/x?y=1", nil)
	if _, _, err := tr.Fetch(context.Background(), "k", req); !errors.Is(err, ErrNoParent) {
		t.Fatalf("all parents failing: %v", err)
	}
	tr.SetNodes(map[string][]Node{"a": {{"a1", refusing}}})
	if _, _, err := tr.Fetch(context.Background(), "k", req); !errors.Is(err, ErrNoParent) || !errors.Is(err, errNotAccepted) {
		t.Fatalf("a parent answering as to a client: %v", err)
	}
	tr.SetNodes(map[string][]Node{"a": {{"a1", refused}, {"a2", refusing}}, "b": {{"b1", bad}, {"b2", good}}})
	resp, n, err := tr.Fetch(context.Background(), "k", req)
	if err != nil || resp.StatusCode != 200 || n.ID != "b2" {
		t.Fatalf("fetch: %v %v %v", resp, n, err)
	}
	resp.Body.Close()
	if last := hits[len(hits)-1]; last != "good shop.example.com /x?y=1" {
		t.Fatalf("parent saw %q", last)
	}
	if st := tr.Stats(); st.Fetches != 1 || st.Fallbacks != 2 || st.Failures < 5 {
		t.Fatalf("stats %+v", st)
	}
}

// Peer matches a request's peer address against the partition's node
// addresses, IPv4-mapped IPv6 and zones included, and nothing before the
// first SetPeers.
func TestPeer(t *testing.T) {
	tr := New("n1")
	t.Cleanup(tr.Close)
	a := netip.MustParseAddr
	if tr.Peer(a("127.0.0.1")) {
		t.Fatal("a peer before any gateway set")
	}
	tr.SetPeers([]netip.Addr{a("10.0.0.5"), a("::ffff:10.0.0.6"), a("2001:db8::1"), a("fe80::1")})
	for ip, want := range map[string]bool{
		"10.0.0.5": true, "::ffff:10.0.0.5": true, "10.0.0.6": true, "2001:db8::1": true,
		"fe80::1%eth0": true, "fe80::2": false, "10.0.0.7": false, "127.0.0.1": false,
	} {
		if got := tr.Peer(a(ip)); got != want {
			t.Errorf("Peer(%s) = %v, want %v", ip, got, want)
		}
	}
	tr.SetPeers(nil)
	if tr.Peer(a("10.0.0.5")) {
		t.Fatal("a peer after the set was emptied")
	}
}

func FuzzParseHops(f *testing.F) {
	for _, s := range []string{"", "0", "1", "3", "-1", "01", "99999999999999999999", " 2 ", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := ParseHops(s)
		if n < 0 || n > MaxHops*4 {
			t.Fatalf("ParseHops(%q) = %d", s, n)
		}
		if !ok && n != MaxHops {
			t.Fatalf("ParseHops(%q) rejected but %d", s, n)
		}
		if ok && s != "" {
			if m, ok2 := ParseHops(strconv.Itoa(n)); !ok2 || m != n {
				t.Fatalf("round trip of %q: %d", s, m)
			}
		}
	})
}
