// Package stats is the node's metrics reporter (README.md): every flush
// interval it takes the proxy's finished per-second aggregates, the system
// samples, the closed Metric SQL windows and the upstream servers' health
// into a metricsv1.Report and sends it as a NATS request to the metrics
// service; unanswered reports wait in a bounded queue and are sent again,
// in order, with their sequence number (the service stores each (node,
// boot, seq) once).
package stats

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// Defaults for zero Options fields.
const (
	DefaultInterval       = time.Second
	DefaultSampleInterval = 5 * time.Second
	DefaultTimeout        = 2 * time.Second
	DefaultQueue          = 600       // reports: ten minutes at the default interval
	DefaultMaxReportBytes = 512 << 10 // a report above is split by apps
	// maxSamples bounds the system samples waiting for a report.
	maxSamples = 64
)

// The NATS micro error headers of a refused report (services/metrics).
const (
	headerError     = "Nats-Service-Error"
	headerErrorCode = "Nats-Service-Error-Code"
)

// Source is what the reporter reads of the proxy (proxy.Proxy).
type Source interface {
	// TakeSeconds hands over the per-second aggregates of the seconds
	// before before (Unix time) and how many were dropped untaken.
	TakeSeconds(before int64, out []*metricsv1.AppSecond) ([]*metricsv1.AppSecond, uint64)
	ServerHealth() []*metricsv1.ServerHealth
	OpenConnections() uint64
}

// Options configure a Reporter.
type Options struct {
	NATS                           *nats.Conn // the node's leaf connection
	NodeID, ClusterID, PartitionID string
	Source                         Source
	// MetricSQL, optional, runs the Metric SQL definitions; their closed
	// windows go in the reports. The proxy feeds it (proxy.Options.Requests).
	MetricSQL *MetricSQL
	// DataDir is the directory whose file system the samples report.
	DataDir string
	// XDP, optional, returns the XDP filter's packet counters by reason
	// (nil or empty: no filter), sent with each system sample.
	XDP func() map[string]uint64
	// Interval between reports (default 2 s).
	Interval time.Duration
	// SampleInterval between system samples (default 5 s).
	SampleInterval time.Duration
	// Timeout for the service's answer to one report (default 2 s).
	Timeout time.Duration
	// Queue is how many unanswered reports are kept (default 600); when
	// full, the oldest is dropped and counted in Report.dropped_reports.
	Queue int
	// MaxReportBytes splits reports above (by apps and metrics; default
	// 512 KiB).
	MaxReportBytes int
	Logger         *slog.Logger
}

// Reporter sends the node's metrics reports. New, Start, Stop.
type Reporter struct {
	opts    Options
	log     *slog.Logger
	bootID  string
	subject string
	sampler sampler

	mu      sync.Mutex
	seq     uint64
	sent    uint64 // reports answered
	queue   []pending
	dropped uint64 // reports dropped since boot (Report.dropped_reports)
	samples []*metricsv1.SystemSample
	secDrop uint64 // seconds the proxy dropped untaken, logged

	sendMu sync.Mutex // one sender at a time: reports go in order
	kick   chan struct{}
	cancel context.CancelFunc
	done   sync.WaitGroup
}

type pending struct {
	seq  uint64
	data []byte
}

// New validates opts.
func New(opts Options) (*Reporter, error) {
	switch {
	case opts.NATS == nil:
		return nil, errors.New("stats: Options.NATS: required")
	case opts.NodeID == "":
		return nil, errors.New("stats: Options.NodeID: required")
	case opts.Source == nil:
		return nil, errors.New("stats: Options.Source: required")
	case opts.Interval < 0, opts.SampleInterval < 0, opts.Timeout < 0, opts.Queue < 0, opts.MaxReportBytes < 0:
		return nil, errors.New("stats: Options: Interval, SampleInterval, Timeout, Queue and MaxReportBytes must not be negative")
	}
	if opts.Interval == 0 {
		opts.Interval = DefaultInterval
	}
	if opts.SampleInterval == 0 {
		opts.SampleInterval = DefaultSampleInterval
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Queue == 0 {
		opts.Queue = DefaultQueue
	}
	if opts.MaxReportBytes == 0 {
		opts.MaxReportBytes = DefaultMaxReportBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	r := &Reporter{
		opts: opts, log: opts.Logger, bootID: hex.EncodeToString(b[:]),
		subject: natsutil.MetricsReportSubject(opts.NodeID),
		sampler: sampler{dataDir: opts.DataDir, conns: opts.Source.OpenConnections, xdp: opts.XDP},
		kick:    make(chan struct{}, 1),
	}
	return r, nil
}

// BootID is the random id of this start of the node in its reports.
func (r *Reporter) BootID() string { return r.bootID }

// Start runs the report, sample and send loops until Stop.
func (r *Reporter) Start(ctx context.Context) error {
	ctx, r.cancel = context.WithCancel(context.WithoutCancel(ctx))
	r.done.Add(3)
	go r.reportLoop(ctx)
	go r.sampleLoop(ctx)
	go r.sendLoop(ctx)
	return nil
}

// Stop ends the loops, then reports what is open (the current second and
// window included) and sends the queue once more within ctx: a clean stop
// loses nothing that reached the service, a restart at most what was
// unanswered.
func (r *Reporter) Stop(ctx context.Context) error {
	if r.cancel == nil {
		return nil
	}
	r.cancel()
	r.done.Wait()
	r.flush(time.Now(), true)
	if left := r.send(ctx); left > 0 {
		// Not an error of the stop: the service may be down for good.
		r.log.Warn("stats: metrics reports unanswered at stop, lost", "reports", left)
	}
	return nil
}

// flushDelay is how long after a second ends the reports are built: the
// requests that finished in it have recorded by then.
const flushDelay = 20 * time.Millisecond

// reportLoop flushes at multiples of the interval in Unix time, just after
// a second ends: a request waits at most one interval for its report, not
// an interval plus the second it finished in.
func (r *Reporter) reportLoop(ctx context.Context) {
	defer r.done.Done()
	iv := r.opts.Interval
	next := time.Now().Truncate(iv).Add(iv + flushDelay)
	t := time.NewTimer(time.Until(next))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.flush(time.Now(), false)
			for now := time.Now(); !next.After(now); {
				next = next.Add(iv)
			}
			t.Reset(time.Until(next))
		}
	}
}

func (r *Reporter) sampleLoop(ctx context.Context) {
	defer r.done.Done()
	r.sampler.sample(ctx, time.Now()) // the base of the first deltas
	t := time.NewTicker(r.opts.SampleInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s := r.sampler.sample(ctx, now)
			r.mu.Lock()
			if len(r.samples) == maxSamples {
				r.samples = r.samples[1:]
			}
			r.samples = append(r.samples, s)
			r.mu.Unlock()
		}
	}
}

// sendLoop sends the queue whenever a report is queued; what stays
// unanswered waits for the next kick (every interval).
func (r *Reporter) sendLoop(ctx context.Context) {
	defer r.done.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
			r.send(ctx)
		}
	}
}

// flush builds the reports of what finished before now (all of it when
// final) and queues them.
func (r *Reporter) flush(now time.Time, final bool) {
	before := now.Unix()
	if final {
		before = math.MaxInt64
	}
	apps, secDrop := r.opts.Source.TakeSeconds(before, nil)
	metrics, lost := r.opts.MetricSQL.take(now, final)
	validUTF8(metrics)
	if lost > 0 {
		r.log.Warn("stats: Metric SQL windows dropped before a report took them", "windows", lost)
	}
	servers := r.opts.Source.ServerHealth()
	r.mu.Lock()
	samples := r.samples
	r.samples = nil
	r.secDrop += secDrop
	r.mu.Unlock()
	if secDrop > 0 {
		r.log.Warn("stats: per-second aggregates dropped before a report took them", "seconds", secDrop)
	}
	for _, rep := range r.split(&metricsv1.Report{
		NodeId: r.opts.NodeID, BootId: r.bootID, ClusterId: r.opts.ClusterID, PartitionId: r.opts.PartitionID,
		Apps: apps, System: samples, Metrics: metrics, Servers: servers,
	}) {
		r.enqueue(rep)
	}
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// validUTF8 replaces invalid UTF-8 in the group keys, which hold request
// values (a decoded path may have any bytes): proto strings must be UTF-8,
// and one bad key would fail the whole report.
func validUTF8(results []*metricsv1.MetricResult) {
	for _, res := range results {
		for _, row := range res.Rows {
			for i, k := range row.Keys {
				if !utf8.ValidString(k) {
					row.Keys[i] = strings.ToValidUTF8(k, "\uFFFD")
				}
			}
		}
	}
}

// split cuts a report above MaxReportBytes into several, packing apps and
// metric results in order; the first carries the samples and servers.
func (r *Reporter) split(rep *metricsv1.Report) []*metricsv1.Report {
	if proto.Size(rep) <= r.opts.MaxReportBytes {
		return []*metricsv1.Report{rep}
	}
	head := func() *metricsv1.Report {
		return &metricsv1.Report{NodeId: rep.NodeId, BootId: rep.BootId, ClusterId: rep.ClusterId, PartitionId: rep.PartitionId}
	}
	cur := head()
	cur.System, cur.Servers = rep.System, rep.Servers
	size := proto.Size(cur)
	out := []*metricsv1.Report{cur}
	// An item's size plus its field tag and length prefix, roughly.
	fits := func(n int) bool { return size+n+8 <= r.opts.MaxReportBytes || size == 0 }
	next := func() { cur = head(); out = append(out, cur); size = 0 }
	for _, a := range rep.Apps {
		n := proto.Size(a)
		if !fits(n) {
			next()
		}
		cur.Apps = append(cur.Apps, a)
		size += n + 8
	}
	for _, m := range rep.Metrics {
		n := proto.Size(m)
		if !fits(n) {
			next()
		}
		cur.Metrics = append(cur.Metrics, m)
		size += n + 8
	}
	return out
}

// enqueue gives rep the next sequence number and the drop count, and
// queues it; a full queue loses its oldest report.
func (r *Reporter) enqueue(rep *metricsv1.Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	rep.Seq = r.seq
	if len(r.queue) >= r.opts.Queue {
		drop := len(r.queue) - r.opts.Queue + 1
		r.queue = append(r.queue[:0], r.queue[drop:]...)
		r.dropped += uint64(drop)
		r.log.Warn("stats: metrics reports dropped unsent (the metrics service is not answering)", "dropped", r.dropped)
	}
	rep.DroppedReports = r.dropped
	data, err := proto.Marshal(rep)
	if err != nil {
		r.log.Error("stats: marshal report", "err", err)
		return
	}
	r.queue = append(r.queue, pending{seq: rep.Seq, data: data})
}

// send sends the queued reports in order until one is not answered; it
// returns how many are left.
func (r *Reporter) send(ctx context.Context) int {
	r.sendMu.Lock()
	defer r.sendMu.Unlock()
	for {
		r.mu.Lock()
		if len(r.queue) == 0 {
			r.mu.Unlock()
			return 0
		}
		p := r.queue[0]
		r.mu.Unlock()
		rctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
		reply, err := r.opts.NATS.RequestWithContext(rctx, r.subject, p.data)
		cancel()
		if err == nil && reply.Header.Get(headerErrorCode) != "" {
			// Refused as invalid: sent again it would be refused again.
			r.log.Warn("stats: metrics report refused by the service, dropped", "seq", p.seq,
				"code", reply.Header.Get(headerErrorCode), "err", reply.Header.Get(headerError))
		}
		r.mu.Lock()
		if err == nil && len(r.queue) > 0 && r.queue[0].seq == p.seq {
			r.queue = r.queue[1:]
			r.sent++
		}
		left := len(r.queue)
		r.mu.Unlock()
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				r.log.Debug("stats: report not answered; sent again later", "seq", p.seq, "queued", left, "err", err)
			}
			return left
		}
	}
}

// Counters are the reporter's figures since start.
type Counters struct {
	Sent    uint64 // reports the service answered
	Queued  uint64 // reports waiting for an answer now
	Dropped uint64 // reports dropped unsent, the queue full
}

// Counters reads the reporter's figures.
func (r *Reporter) Counters() Counters {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Counters{Sent: r.sent, Queued: uint64(len(r.queue)), Dropped: r.dropped}
}

// Queued is how many reports wait for an answer.
func (r *Reporter) Queued() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queue)
}
