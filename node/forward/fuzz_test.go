package forward

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"testing"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// parseHandshake runs the server's parsers over a client's bytes, as
// serveSOCKS5 does: greeting, RFC 1929 authentication, request.
func parseHandshake(data []byte) (request, error) {
	r := bytes.NewReader(data)
	ok, err := readGreeting(r)
	if err != nil {
		return request{}, err
	}
	if !ok {
		return request{}, errors.New("no username/password method")
	}
	if _, _, err := readAuth(r); err != nil {
		return request{}, err
	}
	return readRequest(r)
}

// maxHandshake is the most a handshake can read: greeting 2+255, auth
// 2+255+1+255, request 4+1+255+2.
const maxHandshake = 2 + 255 + 2 + 255 + 1 + 255 + 4 + 1 + 255 + 2

// countingReader counts what the parsers read.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func FuzzSOCKS5Handshake(f *testing.F) {
	f.Add([]byte{5, 1, 2, 1, 5, 'a', 'l', 'i', 'c', 'e', 2, 'p', 'w', 5, 1, 0, 1, 127, 0, 0, 1, 0, 80})
	f.Add([]byte{5, 1, 2, 1, 1, 'u', 0, 5, 1, 0, 3, 11, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm', 1, 187})
	f.Add([]byte{5, 2, 0, 2, 1, 1, 'u', 1, 'p', 5, 3, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 53})
	f.Add([]byte{5, 1, 0})
	f.Add([]byte{4, 1, 0, 80, 127, 0, 0, 1, 0})
	f.Add([]byte{5, 1, 2, 1, 1, 'u', 1, 'p', 5, 2, 0, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		cr := &countingReader{r: bytes.NewReader(data)}
		var q request
		parsed := false
		ok, err := readGreeting(cr)
		if err == nil && !ok {
			err = errors.New("no username/password method")
		}
		if err == nil {
			if _, _, err = readAuth(cr); err == nil {
				q, err = readRequest(cr)
				parsed = err == nil
			}
		}
		if cr.n > maxHandshake {
			t.Fatalf("read %d bytes, at most %d", cr.n, maxHandshake)
		}
		if parsed {
			if q.cmd != cmdConnect && q.cmd != cmdUDPAssociate {
				t.Fatalf("command %d accepted", q.cmd)
			}
			if q.host == "" || len(q.host) > 255 {
				t.Fatalf("host %q", q.host)
			}
		}
		var se *socksError
		if errors.As(err, &se) && se.result == "" {
			t.Fatalf("socks error without a result: %v", se)
		}
		q2, err2 := parseHandshake(data)
		if (err == nil) != (err2 == nil) || q != q2 {
			t.Fatalf("parseHandshake disagrees: %v %v", err, err2)
		}
		if host, _, payload, err := parseUDPHeader(data); err == nil {
			if len(payload) > len(data) || host == "" {
				t.Fatalf("udp header: host %q payload %d of %d", host, len(payload), len(data))
			}
		}
		// Whatever the name, normalizeHost either refuses it or returns a
		// name of the allowed characters.
		if name, _, err := normalizeHost(q.host); err == nil && name == "" {
			t.Fatal("empty normalized name")
		}
	})
}

func TestEgressPolicy(t *testing.T) {
	p := func(ep *configv1.EgressPolicy) *policy {
		t.Helper()
		c, err := compilePolicy(ep)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	def := p(nil)
	priv := p(&configv1.EgressPolicy{AllowPrivate: true, DenyCidrs: []string{"10.1.0.0/16"}})
	cidr := p(&configv1.EgressPolicy{AllowCidrs: []string{"10.0.0.0/8", "169.254.169.254"}})
	for _, tc := range []struct {
		name string
		p    *policy
		ip   string
		ok   bool
	}{
		{"public", def, "93.184.216.34", true},
		{"public v6", def, "2606:2800:220:1::1", true},
		{"loopback", def, "127.0.0.1", false},
		{"loopback v6", def, "::1", false},
		{"mapped loopback", def, "::ffff:127.0.0.1", false},
		{"private", def, "10.2.3.4", false},
		{"private 172", def, "172.16.0.1", false},
		{"private 192", def, "192.168.1.1", false},
		{"cgnat", def, "100.64.0.1", false},
		{"link-local", def, "169.254.1.1", false},
		{"metadata", def, "169.254.169.254", false},
		{"multicast", def, "224.0.0.1", false},
		{"unspecified", def, "0.0.0.0", false},
		{"broadcast", def, "255.255.255.255", false},
		{"ula", def, "fd00::1", false},
		{"v6 link-local", def, "fe80::1", false},
		{"allow_private admits private", priv, "10.2.3.4", true},
		{"allow_private admits loopback", priv, "127.0.0.1", true},
		{"allow_private keeps metadata out", priv, "169.254.169.254", false},
		{"deny_cidrs wins", priv, "10.1.2.3", false},
		{"allow_cidrs admits private in range", cidr, "10.9.9.9", true},
		{"allow_cidrs admits metadata named", cidr, "169.254.169.254", true},
		{"allow_cidrs refuses outside", cidr, "93.184.216.34", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.checkAddr(netip.MustParseAddr(tc.ip))
			if (err == nil) != tc.ok {
				t.Fatalf("checkAddr(%s) = %v, want ok=%v", tc.ip, err, tc.ok)
			}
		})
	}
	dom := p(&configv1.EgressPolicy{AllowDomains: []string{"example.com", "*.example.org"}, AllowPorts: []string{"443", "8000-8100"}})
	for _, tc := range []struct {
		name string
		isIP bool
		ok   bool
	}{
		{"example.com", false, true}, {"www.example.com", false, false}, {"a.example.org", false, true},
		{"example.org", false, false}, {"a.b.example.org", false, false}, {"1.2.3.4", true, false},
	} {
		if err := dom.checkName(tc.name, tc.isIP); (err == nil) != tc.ok {
			t.Errorf("checkName(%s) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	for port, ok := range map[uint16]bool{443: true, 8000: true, 8100: true, 80: false, 8101: false} {
		if err := dom.checkPort(port); (err == nil) != ok {
			t.Errorf("checkPort(%d) = %v, want ok=%v", port, err, ok)
		}
	}
	for _, bad := range []*configv1.EgressPolicy{
		{AllowCidrs: []string{"10.0.0.0/33"}}, {DenyCidrs: []string{"nope"}}, {AllowPorts: []string{"0"}},
		{AllowPorts: []string{"9-1"}}, {AllowPorts: []string{"70000"}}, {AllowDomains: []string{"*."}}, {AllowDomains: []string{"a.*.com"}},
	} {
		if _, err := compilePolicy(bad); err == nil {
			t.Errorf("compilePolicy(%v) accepted", bad)
		}
	}
}

func TestNormalizeHost(t *testing.T) {
	for in, want := range map[string]string{
		"Example.COM.": "example.com", "[::1]": "::1", "::ffff:1.2.3.4": "1.2.3.4", "a_b.example": "a_b.example",
	} {
		if got, _, err := normalizeHost(in); err != nil || got != want {
			t.Errorf("normalizeHost(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a b", "evil\x00.com", "fe80::1%eth0", "a/b"} {
		if _, _, err := normalizeHost(bad); err == nil {
			t.Errorf("normalizeHost(%q) accepted", bad)
		}
	}
}

func TestFailLimiter(t *testing.T) {
	l := newFailLimiter()
	now := netip.MustParseAddr("192.0.2.1")
	for i := 0; i < failBurst; i++ {
		if !l.allow(now) {
			t.Fatalf("refused after %d failures", i)
		}
		l.fail(now)
	}
	if l.allow(now) {
		t.Fatal("allowed after the burst")
	}
	if !l.allow(netip.MustParseAddr("192.0.2.2")) {
		t.Fatal("another client is limited")
	}
	// An IPv6 client's /64 shares one bucket.
	a, b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::ffff")
	for i := 0; i < failBurst; i++ {
		l.fail(a)
	}
	if l.allow(b) {
		t.Fatal("a neighbour in the same /64 is not limited")
	}
}
