package dns

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/testenv"
)

func rec(name string, t dnsv1.RecordType, data string) *dnsv1.Record {
	return &dnsv1.Record{Name: name, Type: t, Data: data}
}

const (
	tA     = dnsv1.RecordType_RECORD_TYPE_A
	tAAAA  = dnsv1.RecordType_RECORD_TYPE_AAAA
	tCNAME = dnsv1.RecordType_RECORD_TYPE_CNAME
	tTXT   = dnsv1.RecordType_RECORD_TYPE_TXT
	tNS    = dnsv1.RecordType_RECORD_TYPE_NS
	tMX    = dnsv1.RecordType_RECORD_TYPE_MX
)

// testZone exercises every answer shape.
func testZone() *dnsv1.Zone {
	z := &dnsv1.Zone{
		Id: "z1", Name: "example.com", Release: 7,
		Nameservers: []string{"ns1.example.com."},
		Soa:         &dnsv1.Soa{Minimum: 60},
		Records: []*dnsv1.Record{
			rec("@", tA, "192.0.2.1"),
			rec("ns1", tA, "192.0.2.53"),
			rec("www", tA, "192.0.2.80"),
			rec("www", tAAAA, "2001:db8::80"),
			rec("alias", tCNAME, "www.example.com."),
			rec("loop1", tCNAME, "loop2.example.com."),
			rec("loop2", tCNAME, "loop1.example.com."),
			rec("out", tCNAME, "www.example.org."),
			rec("*.img", tA, "192.0.2.99"),
			rec("a.b.c", tA, "192.0.2.7"),
			rec("sub", tNS, "ns.sub.example.com."),
			rec("ns.sub", tA, "192.0.2.200"),
			rec("@", tMX, "10 mail.example.com."),
			rec("mail", tA, "192.0.2.25"),
			{Name: "off", Type: tA, Data: "192.0.2.66", Disabled: true},
			// geo: a client subnet rule and the default
			{Name: "geo", Type: tA, Data: "203.0.113.1", Match: &dnsv1.GeoMatch{Cidrs: []string{"198.51.100.0/24"}}},
			{Name: "geo", Type: tA, Data: "203.0.113.2", Match: &dnsv1.GeoMatch{Cidrs: []string{"127.0.0.0/8"}}},
			rec("geo", tA, "203.0.113.9"),
			rec("geo2", tA, "203.0.113.9"),
			{Name: "geo2", Type: tA, Data: "203.0.113.3", Match: &dnsv1.GeoMatch{Cidrs: []string{"10.0.0.0/8"}}},
			{Name: "gw", Type: tA, GatewayCluster: "edge-eu", GatewayAddresses: []string{"192.0.2.10", "2001:db8::10", "192.0.2.11"}},
		},
	}
	for i := range 40 { // a TXT set larger than 512 bytes
		z.Records = append(z.Records, rec("big", tTXT, fmt.Sprintf(`"%s-%02d"`, strings.Repeat("x", 20), i)))
	}
	return z
}

func startServer(t *testing.T, zones ...*dnsv1.Zone) *Server {
	t.Helper()
	s, err := New(Options{UDPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if s.UDPAddr() != nil {
		t.Fatal("bound before Start")
	}
	if err := s.Update(&syncv1.Snapshot{Version: 3, Zones: zones}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s
}

func ask(t *testing.T, s *Server, netw string, m *mdns.Msg) *mdns.Msg {
	t.Helper()
	addr := s.UDPAddr().String()
	if netw == "tcp" {
		addr = s.TCPAddr().String()
	}
	c := &mdns.Client{Net: netw}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %v: %v", netw, m.Question, err)
	}
	if r.Id != m.Id {
		t.Fatalf("reply id %d, want %d", r.Id, m.Id)
	}
	return r
}

func q(name string, qtype uint16, edns bool) *mdns.Msg {
	m := new(mdns.Msg).SetQuestion(name, qtype)
	m.RecursionDesired = false
	if edns {
		m.SetEdns0(1232, false)
	}
	return m
}

func answers(m *mdns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		s := strings.ToLower(rr.String())
		out = append(out, strings.Join(strings.Fields(s), " "))
	}
	return out
}

func TestAuthoritativeAnswers(t *testing.T) {
	s := startServer(t, testZone())
	soaAuth := func(t *testing.T, r *mdns.Msg) {
		t.Helper()
		if len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != mdns.TypeSOA || r.Ns[0].Header().Ttl != 60 {
			t.Errorf("authority %v, want the SOA with the negative TTL 60", r.Ns)
		}
	}
	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		rcode  int
		aa     bool
		answer []string
		check  func(*testing.T, *mdns.Msg)
	}{
		{name: "A", qname: "www.example.com.", qtype: mdns.TypeA, aa: true, answer: []string{"www.example.com. 300 in a 192.0.2.80"}},
		{name: "mixed case", qname: "wWw.ExAmple.COM.", qtype: mdns.TypeAAAA, aa: true, answer: []string{"www.example.com. 300 in aaaa 2001:db8::80"}},
		{name: "apex SOA serial is the release", qname: "example.com.", qtype: mdns.TypeSOA, aa: true,
			answer: []string{"example.com. 300 in soa ns1.example.com. hostmaster.example.com. 7 3600 600 86400 60"}},
		{name: "apex NS", qname: "example.com.", qtype: mdns.TypeNS, aa: true, answer: []string{"example.com. 300 in ns ns1.example.com."},
			check: func(t *testing.T, r *mdns.Msg) {
				if len(r.Extra) == 0 || r.Extra[0].Header().Name != "ns1.example.com." {
					t.Errorf("additional %v, want the name server's address", r.Extra)
				}
			}},
		{name: "NXDOMAIN", qname: "nope.example.com.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, aa: true, check: soaAuth},
		{name: "NODATA", qname: "www.example.com.", qtype: mdns.TypeTXT, aa: true, check: soaAuth},
		{name: "empty non-terminal is NODATA", qname: "b.c.example.com.", qtype: mdns.TypeA, aa: true, check: soaAuth},
		{name: "disabled record is gone", qname: "off.example.com.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, aa: true, check: soaAuth},
		{name: "CNAME chased in zone", qname: "alias.example.com.", qtype: mdns.TypeA, aa: true,
			answer: []string{"alias.example.com. 300 in cname www.example.com.", "www.example.com. 300 in a 192.0.2.80"}},
		{name: "CNAME asked for", qname: "alias.example.com.", qtype: mdns.TypeCNAME, aa: true, answer: []string{"alias.example.com. 300 in cname www.example.com."}},
		{name: "CNAME out of zone not chased", qname: "out.example.com.", qtype: mdns.TypeA, aa: true, answer: []string{"out.example.com. 300 in cname www.example.org."}},
		{name: "CNAME loop stops", qname: "loop1.example.com.", qtype: mdns.TypeA, aa: true, check: func(t *testing.T, r *mdns.Msg) {
			if len(r.Answer) == 0 || len(r.Answer) > maxChase+1 {
				t.Errorf("answer has %d records", len(r.Answer))
			}
		}},
		{name: "wildcard", qname: "x.img.example.com.", qtype: mdns.TypeA, aa: true, answer: []string{"x.img.example.com. 300 in a 192.0.2.99"}},
		{name: "wildcard NODATA", qname: "x.img.example.com.", qtype: mdns.TypeAAAA, aa: true, check: soaAuth},
		{name: "delegation is a referral", qname: "host.sub.example.com.", qtype: mdns.TypeA, aa: false, check: func(t *testing.T, r *mdns.Msg) {
			if len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != mdns.TypeNS || len(r.Extra) == 0 {
				t.Errorf("referral: authority %v additional %v", r.Ns, r.Extra)
			}
		}},
		{name: "ANY per RFC 8482", qname: "www.example.com.", qtype: mdns.TypeANY, aa: true, answer: []string{`www.example.com. 300 in hinfo "rfc8482" ""`}},
		{name: "MX with glue", qname: "example.com.", qtype: mdns.TypeMX, aa: true, answer: []string{"example.com. 300 in mx 10 mail.example.com."}},
		{name: "gateway record keeps its family", qname: "gw.example.com.", qtype: mdns.TypeA, aa: true,
			answer: []string{"gw.example.com. 300 in a 192.0.2.10", "gw.example.com. 300 in a 192.0.2.11"}},
		{name: "other zone refused", qname: "www.example.org.", qtype: mdns.TypeA, rcode: mdns.RcodeRefused},
		{name: "geo by resolver address", qname: "geo.example.com.", qtype: mdns.TypeA, aa: true, answer: []string{"geo.example.com. 300 in a 203.0.113.2"}},
		{name: "geo default", qname: "geo2.example.com.", qtype: mdns.TypeA, aa: true, answer: []string{"geo2.example.com. 300 in a 203.0.113.9"}},
	}
	for _, tc := range tests {
		for _, netw := range []string{"udp", "tcp"} {
			for _, edns := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/edns=%v", tc.name, netw, edns), func(t *testing.T) {
					m := q(tc.qname, tc.qtype, edns)
					r := ask(t, s, netw, m)
					if r.Rcode != tc.rcode || r.Authoritative != tc.aa {
						t.Fatalf("rcode %s aa %v, want %s aa %v", mdns.RcodeToString[r.Rcode], r.Authoritative, mdns.RcodeToString[tc.rcode], tc.aa)
					}
					if r.Question[0].Name != tc.qname {
						t.Errorf("question %q, want the client's spelling %q", r.Question[0].Name, tc.qname)
					}
					if (r.IsEdns0() != nil) != edns {
						t.Errorf("OPT in reply: %v, want %v", r.IsEdns0() != nil, edns)
					}
					if tc.answer != nil && strings.Join(answers(r), "\n") != strings.Join(tc.answer, "\n") {
						t.Errorf("answer\n%s\nwant\n%s", strings.Join(answers(r), "\n"), strings.Join(tc.answer, "\n"))
					}
					if tc.check != nil {
						tc.check(t, r)
					}
				})
			}
		}
	}
}

func TestTruncationAndTCPRetry(t *testing.T) {
	s := startServer(t, testZone())
	r := ask(t, s, "udp", q("big.example.com.", mdns.TypeTXT, false))
	if !r.Truncated {
		t.Fatalf("UDP reply of %d records not truncated", len(r.Answer))
	}
	r.Compress = true
	if n, _ := r.Pack(); len(n) > 512 {
		t.Errorf("UDP reply is %d bytes, over 512", len(n))
	}
	r = ask(t, s, "udp", q("big.example.com.", mdns.TypeTXT, true))
	if !r.Truncated {
		t.Errorf("EDNS UDP reply with %d records not truncated at 1232 bytes", len(r.Answer))
	}
	r = ask(t, s, "tcp", q("big.example.com.", mdns.TypeTXT, false))
	if r.Truncated || len(r.Answer) != 40 {
		t.Errorf("TCP: truncated %v, %d records, want all 40", r.Truncated, len(r.Answer))
	}
}

func TestClientSubnet(t *testing.T) {
	s := startServer(t, testZone())
	withECS := func(name, cidr string) *mdns.Msg {
		m := q(name, mdns.TypeA, true)
		_, n, _ := net.ParseCIDR(cidr)
		ones, _ := n.Mask.Size()
		opt := m.IsEdns0()
		opt.Option = append(opt.Option, &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(ones), Address: n.IP.To4()})
		return m
	}
	tests := []struct {
		name, qname, cidr, answer string
		scope                     uint8
	}{
		{name: "subnet rule", qname: "geo.example.com.", cidr: "198.51.100.0/24", answer: "203.0.113.1", scope: 24},
		{name: "subnet beats resolver address", qname: "geo.example.com.", cidr: "192.0.2.0/24", answer: "203.0.113.9", scope: 24},
		{name: "no geo rule: scope 0", qname: "www.example.com.", cidr: "198.51.100.0/24", answer: "192.0.2.80", scope: 0},
	}
	for _, tc := range tests {
		for _, netw := range []string{"udp", "tcp"} {
			t.Run(tc.name+"/"+netw, func(t *testing.T) {
				r := ask(t, s, netw, withECS(tc.qname, tc.cidr))
				if len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != tc.answer {
					t.Fatalf("answer %v, want %s", r.Answer, tc.answer)
				}
				opt := r.IsEdns0()
				if opt == nil {
					t.Fatal("no OPT in reply")
				}
				var ecs *mdns.EDNS0_SUBNET
				for _, o := range opt.Option {
					if e, ok := o.(*mdns.EDNS0_SUBNET); ok {
						ecs = e
					}
				}
				if ecs == nil || ecs.SourceScope != tc.scope {
					t.Errorf("ECS echo %v, want scope %d", ecs, tc.scope)
				}
			})
		}
	}
}

func TestBadVersionAndOpcode(t *testing.T) {
	s := startServer(t, testZone())
	m := q("www.example.com.", mdns.TypeA, true)
	m.IsEdns0().SetVersion(1)
	if r := ask(t, s, "udp", m); r.Rcode != mdns.RcodeBadVers {
		t.Errorf("EDNS version 1: rcode %s, want BADVERS", mdns.RcodeToString[r.Rcode])
	}
	m = q("www.example.com.", mdns.TypeA, false)
	m.Opcode = mdns.OpcodeStatus
	if r := ask(t, s, "udp", m); r.Rcode != mdns.RcodeNotImplemented {
		t.Errorf("opcode STATUS: rcode %s, want NOTIMP", mdns.RcodeToString[r.Rcode])
	}
	if r := ask(t, s, "tcp", q("example.com.", mdns.TypeAXFR, false)); r.Rcode != mdns.RcodeRefused {
		t.Errorf("AXFR: rcode %s, want REFUSED", mdns.RcodeToString[r.Rcode])
	}
}

func TestUpdateSwapsZonesAndKeepsThemOnError(t *testing.T) {
	s := startServer(t, testZone())
	z := testZone()
	z.Records = append(z.Records, rec("new", tA, "192.0.2.77"))
	if err := s.Update(&syncv1.Snapshot{Version: 4, Zones: []*dnsv1.Zone{z}}); err != nil {
		t.Fatal(err)
	}
	if r := ask(t, s, "udp", q("new.example.com.", mdns.TypeA, false)); len(r.Answer) != 1 {
		t.Fatalf("after update: answer %v", r.Answer)
	}
	bad := testZone()
	bad.Records = append(bad.Records, rec("broken", tA, "not-an-address"))
	err := s.Update(&syncv1.Snapshot{Version: 5, Zones: []*dnsv1.Zone{bad}})
	if err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("bad zone: err %v, want one naming the record", err)
	}
	if s.Version() != 4 {
		t.Errorf("version %d after a failed update, want 4", s.Version())
	}
	if r := ask(t, s, "udp", q("new.example.com.", mdns.TypeA, false)); len(r.Answer) != 1 {
		t.Errorf("old zones not kept: answer %v", r.Answer)
	}
	if err := s.Update(&syncv1.Snapshot{Version: 6}); err != nil {
		t.Fatal(err)
	}
	if r := ask(t, s, "udp", q("www.example.com.", mdns.TypeA, false)); r.Rcode != mdns.RcodeRefused {
		t.Errorf("removed zone: rcode %s, want REFUSED", mdns.RcodeToString[r.Rcode])
	}
}

// A real resolver client against the server.
func TestDig(t *testing.T) {
	dig, err := exec.LookPath("dig")
	if err != nil {
		testenv.Missing(t, "dig not installed (apt-get install dnsutils)")
	}
	s := startServer(t, testZone())
	host, port, _ := net.SplitHostPort(s.UDPAddr().String())
	if s.TCPAddr().String() != s.UDPAddr().String() {
		t.Fatalf("tcp %s and udp %s differ", s.TCPAddr(), s.UDPAddr())
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "A", args: []string{"-p", port, "www.example.com", "A"}, want: []string{"status: NOERROR", "flags: qr aa;", "192.0.2.80"}},
		{name: "NXDOMAIN", args: []string{"-p", port, "nope.example.com", "A"}, want: []string{"status: NXDOMAIN", "SOA"}},
		{name: "no cookie, fast path", args: []string{"-p", port, "+nocookie", "WWW.example.com", "AAAA"}, want: []string{"status: NOERROR", "2001:db8::80"}},
		{name: "truncated, retried over TCP", args: []string{"-p", port, "+bufsize=512", "big.example.com", "TXT"}, want: []string{"ANSWER: 40"}},
		{name: "ECS", args: []string{"-p", port, "+subnet=198.51.100.7/24", "geo.example.com", "A"}, want: []string{"203.0.113.1", "CLIENT-SUBNET: 198.51.100.0/24/24"}},
		{name: "refused", args: []string{"-p", port, "example.net", "A"}, want: []string{"status: REFUSED"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"@" + host, "+norec", "+time=2", "+tries=1"}, tc.args...)
			out, err := exec.Command(dig, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("dig %v: %v\n%s", args, err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("dig %v: output lacks %q:\n%s", args, w, out)
				}
			}
		})
	}
}

// Gateway records answer with the live set of a cluster's healthy nodes: a
// node leaving the set leaves the answers at once and comes back with it.
func TestGatewayRecordsFollowTheLiveSet(t *testing.T) {
	s := startServer(t, testZone())
	a := func() string {
		t.Helper()
		r := ask(t, s, "udp", q("gw.example.com.", mdns.TypeA, false))
		var out []string
		for _, rr := range r.Answer {
			out = append(out, rr.(*mdns.A).A.String())
		}
		if len(out) == 0 {
			return mdns.RcodeToString[r.Rcode] + "/" + fmt.Sprint(len(r.Ns))
		}
		return strings.Join(out, ",")
	}
	if got := a(); got != "192.0.2.10,192.0.2.11" {
		t.Fatalf("from the snapshot: %s", got)
	}
	if err := s.SetGateways(map[string]Gateway{"edge-eu": {Addresses: []string{"192.0.2.11"}}}); err != nil {
		t.Fatal(err)
	}
	if got := a(); got != "192.0.2.11" {
		t.Fatalf("after 192.0.2.10 went unhealthy: %s", got)
	}
	if err := s.SetGateways(map[string]Gateway{"edge-eu": {Addresses: []string{}}}); err != nil {
		t.Fatal(err)
	}
	if got := a(); got != "NOERROR/1" {
		t.Fatalf("no healthy node: %s, want NODATA", got)
	}
	// A new snapshot keeps the live set.
	if err := s.Update(&syncv1.Snapshot{Version: 9, Zones: []*dnsv1.Zone{testZone()}}); err != nil {
		t.Fatal(err)
	}
	if got := a(); got != "NOERROR/1" {
		t.Fatalf("after a new snapshot: %s", got)
	}
	if err := s.SetGateways(map[string]Gateway{"edge-eu": {Addresses: []string{"192.0.2.10", "192.0.2.12"}}}); err != nil {
		t.Fatal(err)
	}
	if got := a(); got != "192.0.2.10,192.0.2.12" {
		t.Fatalf("back healthy: %s", got)
	}
}
