// Package ddos is the edge node's side of the DDoS service
// (services/ddos): it applies its cluster's policy, as the snapshot carries
// it (kind "ddos_policy"), to the node's XDP filter (node/xdp); it applies
// the block commands of its partition stream (STRATA_DDOS) that name its
// cluster or every cluster, for what is left of their ttl, and acknowledges
// each one (an error when no filter is attached: "xdp not attached: ...");
// and it reports the filter's counters every ReportInterval.
//
// Blocks need no saved position: the stream keeps commands for the longest
// ttl, so after a restart the agent reads it from the start and blocks
// again what has not expired (the filter's maps do not outlive the node);
// the service counts a node's first acknowledgement only.
package ddos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ddosv1 "github.com/strata-edge/strata/gen/strata/ddos/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/internal/retry"
	"github.com/strata-edge/strata/node/xdp"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// Filter is what the agent drives: *xdp.Filter.
type Filter interface {
	Apply(xdp.Policy) error
	Block(prefixes []netip.Prefix, ttl time.Duration) error
	Counters() map[string]uint64
}

// Options configures an Agent.
type Options struct {
	NATS                           *nats.Conn
	NodeID, ClusterID, PartitionID string
	// Filter returns the node's filter, or nil and why there is none
	// ("no --xdp-iface given", the attach error).
	Filter func() (Filter, string)
	// Domain is the JetStream domain of the hub ("" for the local server).
	Domain string
	// ReportInterval is how often counters are reported (default
	// DefaultReportInterval; negative: never).
	ReportInterval time.Duration
	// LinkID, when set, identifies the node's leaf connection (0 while
	// down): a new link restarts the consumer, as the purge agent does.
	LinkID func() uint64
	Logger *slog.Logger
	Now    func() time.Time
}

// DefaultReportInterval is how often a node reports its filter counters.
const DefaultReportInterval = 10 * time.Second

// Agent applies policies and blocks to the node's filter.
type Agent struct {
	opts   Options
	cancel context.CancelFunc
	wg     sync.WaitGroup
	nudge  chan struct{}

	mu      sync.Mutex
	applied *ddosv1.DdosPolicy // last policy applied (nil: none yet)
	onto    Filter             // the filter it was applied to
	err     string             // why the last policy was not applied

	acks ackQueue
}

// New checks opts.
func New(opts Options) (*Agent, error) {
	switch {
	case opts.NATS == nil:
		return nil, errors.New("ddos agent: NATS is required")
	case opts.NodeID == "" || opts.PartitionID == "":
		return nil, errors.New("ddos agent: NodeID and PartitionID are required")
	case opts.Filter == nil:
		return nil, errors.New("ddos agent: Filter is required")
	}
	if opts.ReportInterval == 0 {
		opts.ReportInterval = DefaultReportInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Agent{opts: opts, nudge: make(chan struct{}, 1), acks: ackQueue{kick: make(chan struct{}, 1)}}, nil
}

// Start runs the block consumer, the acknowledgements and the reports
// until Stop.
func (a *Agent) Start(ctx context.Context) error {
	ctx, a.cancel = context.WithCancel(context.WithoutCancel(ctx))
	a.wg.Go(func() { retry.Sessions(ctx, a.opts.Logger, "ddos agent", a.nudge, a.session) })
	a.wg.Go(func() { retry.Loop(ctx, a.acks.kick, a.sendAcks) })
	if a.opts.ReportInterval > 0 {
		a.wg.Go(func() { a.reportLoop(ctx) })
	}
	if a.opts.LinkID != nil {
		a.wg.Go(func() { natsutil.WatchLink(ctx, a.opts.LinkID, func(uint64) { a.Nudge() }) })
	}
	return nil
}

// Stop ends the agent (acknowledgements not answered yet are dropped: the
// next start reads the stream again and sends them).
func (a *Agent) Stop(ctx context.Context) error {
	if a.cancel == nil {
		return nil
	}
	a.cancel()
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Nudge restarts the consumer (a new link to the hub).
func (a *Agent) Nudge() {
	select {
	case a.nudge <- struct{}{}:
	default:
	}
}

// ToXDP converts a policy as the control plane validated it; a disabled
// policy (or none) filters nothing.
func ToXDP(p *ddosv1.DdosPolicy) (xdp.Policy, error) {
	if !p.GetEnabled() {
		return xdp.Policy{}, nil
	}
	out := xdp.Policy{
		SYN:           rate(p.GetTcpSyn()),
		DNS:           rate(p.GetUdpDns()),
		ICMP:          rate(p.GetIcmp()),
		DropMalformed: p.GetDropMalformed(),
		DropFragments: p.GetDropFragments(),
		SYNCookies:    p.GetSynCookies(),
	}
	var err error
	if out.Deny, err = parse("deny_cidrs", p.GetDenyCidrs()); err != nil {
		return xdp.Policy{}, err
	}
	if out.Allow, err = parse("allow_cidrs", p.GetAllowCidrs()); err != nil {
		return xdp.Policy{}, err
	}
	return out, nil
}

// rate converts a limit; burst 0 is one second of the rate (the contract's
// default; the filter wants it explicit).
func rate(r *ddosv1.RateLimit) xdp.RateLimit {
	out := xdp.RateLimit{PacketsPerSecond: r.GetPacketsPerSecond(), Burst: r.GetBurst()}
	if out.PacketsPerSecond > 0 && out.Burst == 0 {
		out.Burst = out.PacketsPerSecond
	}
	return out
}

func parse(field string, in []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(in))
	for i, s := range in {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("ddos policy %s[%d]: %w", field, i, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// Update applies the policy of the node's cluster in snap to the filter,
// when it differs from the one applied (an absent policy is the empty one).
// An error is kept for the reports and returned; the rest of the snapshot
// runs either way: a policy the filter refuses must not stop the config.
func (a *Agent) Update(snap *syncv1.Snapshot) error {
	want := &ddosv1.DdosPolicy{ClusterId: a.opts.ClusterID}
	for _, p := range snap.GetDdosPolicies() {
		if p.GetClusterId() == a.opts.ClusterID {
			want = p
		}
	}
	return a.apply(want)
}

func (a *Agent) apply(want *ddosv1.DdosPolicy) error {
	f, why := a.opts.Filter()
	a.mu.Lock()
	defer a.mu.Unlock()
	if f == nil {
		a.applied, a.onto, a.err = want, nil, "xdp not attached: "+why
		return nil // nothing to apply it to; the reports say why
	}
	if a.onto == f && a.err == "" && proto.Equal(a.applied, want) {
		return nil
	}
	p, err := ToXDP(want)
	if err == nil {
		err = f.Apply(p)
	}
	a.applied, a.onto = want, f
	if err != nil {
		a.err = fmt.Sprintf("ddos policy release %d not applied: %v", want.GetVersion(), err)
		a.opts.Logger.Warn("ddos: policy not applied", "release", want.GetVersion(), "err", err)
		return errors.New(a.err)
	}
	a.err = ""
	a.opts.Logger.Info("ddos: policy applied", "release", want.GetVersion(), "enabled", want.GetEnabled(), "deny", len(p.Deny), "allow", len(p.Allow))
	return nil
}

// --- blocks ------------------------------------------------------------------

// session reads the partition's block commands from the start of the
// stream (it keeps the longest ttl), applying what has not expired.
func (a *Agent) session(ctx context.Context) error {
	js, err := natsutil.JetStream(a.opts.NATS, a.opts.Domain)
	if err != nil {
		return err
	}
	cons, err := js.OrderedConsumer(ctx, natsutil.DdosStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{natsutil.DdosSubject(a.opts.PartitionID)},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("ddos consumer: %w", err)
	}
	if a.opts.ReportInterval > 0 {
		a.Report() // the hub is reachable again: no need to wait an interval
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	go func() { <-ctx.Done(); it.Stop() }()
	seen := map[string]bool{} // a new session reads the stream again
	for {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return ctx.Err()
			}
			return err
		}
		a.handle(msg.Data(), seen)
	}
}

// handle applies one block command (at most once per session) and queues
// its acknowledgement.
func (a *Agent) handle(data []byte, seen map[string]bool) {
	var cmd ddosv1.BlockCommand
	if err := proto.Unmarshal(data, &cmd); err != nil || cmd.GetBlockId() == "" {
		a.opts.Logger.Warn("ddos agent: undecodable block command", "err", err)
		return
	}
	if c := cmd.GetClusterId(); (c != "" && c != a.opts.ClusterID) || seen[cmd.GetBlockId()] {
		return
	}
	seen[cmd.GetBlockId()] = true
	ack := &ddosv1.BlockAck{BlockId: cmd.GetBlockId(), NodeId: a.opts.NodeID}
	if err := a.block(&cmd); err != nil {
		ack.Error = err.Error()
	}
	ack.AppliedAt = timestamppb.New(a.opts.Now())
	a.queueAck(ack)
}

func (a *Agent) block(cmd *ddosv1.BlockCommand) error {
	left := cmd.GetRequestedAt().AsTime().Add(cmd.GetTtl().AsDuration()).Sub(a.opts.Now())
	if left <= 0 {
		return fmt.Errorf("expired before this node received it (ttl %s)", cmd.GetTtl().AsDuration())
	}
	prefixes, err := parse("cidrs", cmd.GetCidrs())
	if err != nil {
		return err
	}
	f, why := a.opts.Filter()
	if f == nil {
		return errors.New("xdp not attached: " + why)
	}
	if err := f.Block(prefixes, left); err != nil {
		return err
	}
	a.opts.Logger.Info("ddos: block applied", "block", cmd.GetBlockId(), "cidrs", len(prefixes), "left", left.Round(time.Second))
	return nil
}

// --- reports -----------------------------------------------------------------

func (a *Agent) reportLoop(ctx context.Context) {
	t := time.NewTicker(a.opts.ReportInterval)
	defer t.Stop()
	for {
		a.Report()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Report publishes the filter's state and counters once.
func (a *Agent) Report() {
	r := &ddosv1.DdosReport{NodeId: a.opts.NodeID, ClusterId: a.opts.ClusterID, ReportedAt: timestamppb.New(a.opts.Now())}
	f, why := a.opts.Filter()
	a.mu.Lock()
	r.Detail = a.err
	a.mu.Unlock()
	if f == nil {
		r.Detail = "xdp not attached: " + why
	} else {
		r.Attached, r.Counters = true, f.Counters()
		// The policy is applied but its SYN cookies are not on (the node
		// could not set net.ipv4.tcp_syncookies): SYNs over the limit drop.
		if c, ok := f.(interface{ SYNCookieError() string }); ok && r.Detail == "" {
			r.Detail = c.SYNCookieError()
		}
	}
	b, err := proto.Marshal(r)
	if err == nil {
		err = a.opts.NATS.Publish(natsutil.DdosReportSubject(a.opts.NodeID), b)
	}
	if err != nil {
		a.opts.Logger.Debug("ddos agent: report not sent", "err", err)
	}
}
