package ddos

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ddosv1 "github.com/strata-edge/strata/gen/strata/ddos/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/xdp"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// hub is an embedded JetStream server with the block stream (as the ddos
// service creates it) and the acks the agent sends, answered.
type hub struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	acks chan *ddosv1.BlockAck
}

func newHub(t *testing.T) *hub {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	nc := natstest.Connect(t, natstest.RunServer(t))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: natsutil.DdosStream, Subjects: []string{natsutil.DdosSubjects}}); err != nil {
		t.Fatal(err)
	}
	h := &hub{nc: nc, js: js, acks: make(chan *ddosv1.BlockAck, 16)}
	if _, err := nc.Subscribe(natsutil.DdosAckAll, func(m *nats.Msg) {
		var a ddosv1.BlockAck
		if err := proto.Unmarshal(m.Data, &a); err != nil {
			t.Error(err)
		}
		h.acks <- &a
		_ = m.Respond(nil)
	}); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *hub) publish(t *testing.T, cmd *ddosv1.BlockCommand) {
	t.Helper()
	b, _ := proto.Marshal(cmd)
	if _, err := h.js.Publish(context.Background(), natsutil.DdosSubject("p1"), b); err != nil {
		t.Fatal(err)
	}
}

func (h *hub) ack(t *testing.T) *ddosv1.BlockAck {
	t.Helper()
	select {
	case a := <-h.acks:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("no acknowledgement")
		return nil
	}
}

func startAgent(t *testing.T, h *hub, filter func() (Filter, string)) *Agent {
	t.Helper()
	a, err := New(Options{NATS: h.nc, NodeID: "node_a", ClusterID: "cls_1", PartitionID: "p1", Filter: filter, ReportInterval: -1,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Stop(context.Background()) })
	return a
}

func block(id, cluster string, ttl time.Duration, at time.Time, cidrs ...string) *ddosv1.BlockCommand {
	return &ddosv1.BlockCommand{BlockId: id, ClusterId: cluster, Cidrs: cidrs, Ttl: durationpb.New(ttl), RequestedAt: timestamppb.New(at)}
}

// Without a filter every block of the node's cluster (or of all) is
// acknowledged with the reason; another cluster's is not the node's.
func TestBlocksWithoutFilter(t *testing.T) {
	h := newHub(t)
	startAgent(t, h, func() (Filter, string) { return nil, "the node runs without --xdp-iface" })
	h.publish(t, block("blk_other", "cls_2", time.Minute, time.Now(), "192.0.2.0/24"))
	h.publish(t, block("blk_1", "cls_1", time.Minute, time.Now(), "192.0.2.0/24"))
	h.publish(t, block("blk_all", "", time.Minute, time.Now(), "198.51.100.1/32"))
	for _, want := range []string{"blk_1", "blk_all"} {
		a := h.ack(t)
		if a.GetBlockId() != want || a.GetNodeId() != "node_a" || a.GetError() != "xdp not attached: the node runs without --xdp-iface" {
			t.Fatalf("ack %v, want %s not attached", a, want)
		}
	}
	select {
	case a := <-h.acks:
		t.Fatalf("unexpected ack %v", a)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestToXDP(t *testing.T) {
	p, err := ToXDP(&ddosv1.DdosPolicy{Enabled: true, DenyCidrs: []string{"192.0.2.0/24", "2001:db8::/32"}, AllowCidrs: []string{"10.0.0.1/32"},
		TcpSyn: &ddosv1.RateLimit{PacketsPerSecond: 10, Burst: 20}, Icmp: &ddosv1.RateLimit{PacketsPerSecond: 5}, DropFragments: true, SynCookies: true})
	if err != nil || !p.SYNCookies || len(p.Deny) != 2 || p.Deny[1] != netip.MustParsePrefix("2001:db8::/32") || len(p.Allow) != 1 ||
		p.SYN != (xdp.RateLimit{PacketsPerSecond: 10, Burst: 20}) || p.ICMP != (xdp.RateLimit{PacketsPerSecond: 5, Burst: 5}) || p.DNS != (xdp.RateLimit{}) || !p.DropFragments || p.DropMalformed {
		t.Fatalf("ToXDP = %+v, %v", p, err)
	}
	if p, err := ToXDP(&ddosv1.DdosPolicy{DenyCidrs: []string{"192.0.2.0/24"}}); err != nil || len(p.Deny) != 0 {
		t.Fatalf("a disabled policy gives %+v, %v", p, err)
	}
	if _, err := ToXDP(&ddosv1.DdosPolicy{Enabled: true, DenyCidrs: []string{"x"}}); err == nil || !strings.Contains(err.Error(), "deny_cidrs[0]") {
		t.Fatalf("bad prefix: %v", err)
	}
}

// As root, on a veth: the policy of the node's cluster and blocks reach the
// real filter; an expired block is acknowledged with why it was not applied;
// the report carries the counters.
func TestPolicyAndBlocksOnTheFilter(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (veth, BPF)")
	}
	dev := fmt.Sprintf("sdd%da", os.Getpid()%100000)
	if out, err := exec.Command("ip", "link", "add", dev, "type", "veth", "peer", "name", dev[:len(dev)-1]+"b").CombinedOutput(); err != nil {
		t.Fatalf("ip link add: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", dev).Run() })
	if out, err := exec.Command("ip", "link", "set", dev, "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set up: %v %s", err, out)
	}
	f, err := xdp.Attach([]string{dev}, xdp.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	h := newHub(t)
	a := startAgent(t, h, func() (Filter, string) { return f, "" })

	// The policy of another cluster is not this node's; its own is applied.
	snap := &syncv1.Snapshot{DdosPolicies: []*ddosv1.DdosPolicy{
		{Id: "cls_2", ClusterId: "cls_2", Enabled: true, DenyCidrs: []string{"0.0.0.0/0"}},
		{Id: "cls_1", ClusterId: "cls_1", Enabled: true, Version: 1, DenyCidrs: []string{"203.0.113.0/24"}, TcpSyn: &ddosv1.RateLimit{PacketsPerSecond: 100}},
	}}
	if err := a.Update(snap); err != nil {
		t.Fatal(err)
	}
	// A policy the filter refuses is reported, not fatal.
	bad := &syncv1.Snapshot{DdosPolicies: []*ddosv1.DdosPolicy{{Id: "cls_1", ClusterId: "cls_1", Enabled: true, Version: 2,
		TcpSyn: &ddosv1.RateLimit{PacketsPerSecond: xdp.MaxRate + 1}}}}
	if err := a.Update(bad); err == nil || !strings.Contains(err.Error(), "release 2 not applied") {
		t.Fatalf("a policy over the filter's limits: %v", err)
	}
	if err := a.Update(snap); err != nil {
		t.Fatal(err)
	}

	h.publish(t, block("blk_1", "cls_1", 10*time.Minute, time.Now(), "192.0.2.0/24", "2001:db8::1/128"))
	h.publish(t, block("blk_old", "", time.Second, time.Now().Add(-time.Minute), "198.51.100.0/24"))
	if ack := h.ack(t); ack.GetBlockId() != "blk_1" || ack.GetError() != "" {
		t.Fatalf("ack %v", ack)
	}
	if ack := h.ack(t); ack.GetBlockId() != "blk_old" || !strings.Contains(ack.GetError(), "expired before this node received it") {
		t.Fatalf("ack of an expired block %v", ack)
	}
	blocks := f.Blocks()
	for _, p := range []string{"192.0.2.0/24", "2001:db8::1/128"} {
		if left := blocks[netip.MustParsePrefix(p)]; left < 9*time.Minute || left > 10*time.Minute {
			t.Fatalf("block of %s has %s left (blocks %v)", p, left, blocks)
		}
	}
	if _, ok := blocks[netip.MustParsePrefix("198.51.100.0/24")]; ok {
		t.Fatal("the expired block was applied")
	}

	r := report(t, h, a)
	if !r.GetAttached() || r.GetDetail() != "" || len(r.GetCounters()) == 0 {
		t.Fatalf("report %v", r)
	}
}

// report is what the agent sends when asked to report now.
func report(t *testing.T, h *hub, a *Agent) *ddosv1.DdosReport {
	t.Helper()
	reports, err := h.nc.SubscribeSync(natsutil.DdosReportSubject("node_a"))
	if err != nil {
		t.Fatal(err)
	}
	a.Report()
	m, err := reports.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var r ddosv1.DdosReport
	if err := proto.Unmarshal(m.Data, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// cookieless is a filter whose SYN cookies could not be turned on (the real
// one says so only when /proc/sys is read-only, which a test cannot arrange
// without a mount namespace; node/xdp tests that side).
type cookieless struct{}

func (cookieless) Apply(xdp.Policy) error                    { return nil }
func (cookieless) Block([]netip.Prefix, time.Duration) error { return nil }
func (cookieless) Counters() map[string]uint64               { return map[string]uint64{"passed": 1} }
func (cookieless) SYNCookieError() string {
	return "SYN cookies off: cannot set /proc/sys/net/ipv4/tcp_syncookies=2: read-only file system"
}

func TestReportSaysSYNCookiesOff(t *testing.T) {
	h := newHub(t)
	a := startAgent(t, h, func() (Filter, string) { return cookieless{}, "" })
	r := report(t, h, a)
	if !r.GetAttached() || !strings.Contains(r.GetDetail(), "SYN cookies off") {
		t.Fatalf("report %v", r)
	}
}
