package metrics

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/pkg/sketch"
)

// Tail bounds: each tail buffers at most tailBuffer reports (then drops,
// counted), keeps seconds at most tailAhead in the future, and remembers
// at most tailSeen report keys to drop a node's re-sent report.
const (
	tailBuffer      = 256
	tailAhead       = 60
	tailSeen        = 4096
	maxTopPaths     = 32
	DefaultTailWait = 3 * time.Second // nodes report every 1 s by default
)

// tail is one Tail stream's inbox.
type tail struct {
	app string
	ch  chan tailItem
}

// tailItem is one report's seconds of the tailed app.
type tailItem struct {
	key  reportKey
	apps []*metricsv1.AppSecond
}

type reportKey struct {
	node, boot string
	seq        uint64
}

// tails are the running Tail streams.
type tails struct {
	mu      sync.Mutex
	set     map[*tail]struct{}
	dropped interface{ Inc() } // counts reports a full buffer missed
}

func (ts *tails) add(app string) *tail {
	t := &tail{app: app, ch: make(chan tailItem, tailBuffer)}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.set == nil {
		ts.set = map[*tail]struct{}{}
	}
	ts.set[t] = struct{}{}
	return t
}

func (ts *tails) remove(t *tail) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	delete(ts.set, t)
}

// dispatch hands a report's seconds to the tails of its apps; a tail whose
// buffer is full misses it (its client reads too slowly).
func (ts *tails) dispatch(node string, r *metricsv1.Report) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for t := range ts.set {
		var apps []*metricsv1.AppSecond
		for _, a := range r.GetApps() {
			if a.GetAppId() == t.app {
				apps = append(apps, a)
			}
		}
		if len(apps) == 0 {
			continue
		}
		select {
		case t.ch <- tailItem{reportKey{node, r.GetBootId(), r.GetSeq()}, apps}:
		default:
			if ts.dropped != nil {
				ts.dropped.Inc()
			}
		}
	}
}

// watch sees every report (no queue group: every replica gets each one),
// for node liveness and the Tail streams.
func (s *Service) watch(m *nats.Msg) {
	node := nodeOf(m.Subject)
	if node == "" || len(m.Data) > s.maxReport {
		return
	}
	r := &metricsv1.Report{}
	if proto.Unmarshal(m.Data, r) != nil {
		return
	}
	s.life.seen(node, s.now())
	s.tails.dispatch(node, r)
}

// second is one second of a tail being summed.
type second struct {
	sum   *metricsv1.AppSecond
	nodes map[string]bool
}

// runTail sends one TailResponse a second, from the second it starts in,
// until ctx ends: second t goes out wait after it (reports arrive once a node flushes), summed over the
// nodes whose reports arrived by then; a second with no report is sent
// with zeros. Reports of a second already sent are dropped.
func (s *Service) runTail(ctx context.Context, app string, send func(*metricsv1.TailResponse) error) error {
	t := s.tails.add(app)
	defer s.tails.remove(t)
	wait := int64(s.tailWait / time.Second)
	// The first second sent is the current one: the reports of earlier
	// seconds went out before this subscription and would read 0.
	next := s.now().Unix()
	pending := map[int64]*second{}
	seen := map[reportKey]bool{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case it := <-t.ch:
			if seen[it.key] {
				continue // re-sent by the node: counted once
			}
			if len(seen) >= tailSeen {
				clear(seen)
			}
			seen[it.key] = true
			now := s.now().Unix()
			for _, a := range it.apps {
				sec := a.GetUnixSecond()
				if sec < next || sec > now+tailAhead {
					continue
				}
				p := pending[sec]
				if p == nil {
					p = &second{sum: &metricsv1.AppSecond{AppId: app, UnixSecond: sec}, nodes: map[string]bool{}}
					pending[sec] = p
				}
				mergeSecond(p.sum, a)
				p.nodes[it.key.node] = true
			}
		case <-tick.C:
			due := s.now().Unix() - wait
			for ; next <= due; next++ {
				out := &metricsv1.TailResponse{Second: &metricsv1.AppSecond{AppId: app, UnixSecond: next}}
				if p := pending[next]; p != nil {
					out = &metricsv1.TailResponse{Second: p.sum, Nodes: uint32(len(p.nodes))}
					delete(pending, next)
				}
				if err := send(out); err != nil {
					return err
				}
			}
		}
	}
}

// mergeSecond adds src to dst: counts add, sketches merge (exactly, same
// accuracy), top paths add and keep the largest maxTopPaths.
func mergeSecond(dst, src *metricsv1.AppSecond) {
	dst.Requests += src.GetRequests()
	dst.BytesIn += src.GetBytesIn()
	dst.BytesOut += src.GetBytesOut()
	dst.WafHits += src.GetWafHits()
	dst.Status = mergeCodes(dst.Status, src.GetStatus())
	dst.LatencyMs = mergeSketch(dst.LatencyMs, src.GetLatencyMs())
	dst.Cache = mergeNames(dst.Cache, src.GetCache(), 0)
	dst.Paths = mergeNames(dst.Paths, src.GetPaths(), maxTopPaths)
	dst.UpstreamErrors = mergeNames(dst.UpstreamErrors, src.GetUpstreamErrors(), 0)
	for _, w := range src.GetWafRules() {
		i := slices.IndexFunc(dst.WafRules, func(d *metricsv1.WafRuleCount) bool {
			return d.GetRuleId() == w.GetRuleId() && d.GetAction() == w.GetAction()
		})
		if i < 0 {
			dst.WafRules = append(dst.WafRules, &metricsv1.WafRuleCount{RuleId: w.GetRuleId(), Action: w.GetAction()})
			i = len(dst.WafRules) - 1
		}
		dst.WafRules[i].Count += w.GetCount()
	}
	for _, u := range src.GetUpstreams() {
		i := slices.IndexFunc(dst.Upstreams, func(d *metricsv1.UpstreamSecond) bool { return d.GetServer() == u.GetServer() })
		if i < 0 {
			dst.Upstreams = append(dst.Upstreams, &metricsv1.UpstreamSecond{Server: u.GetServer()})
			i = len(dst.Upstreams) - 1
		}
		d := dst.Upstreams[i]
		d.Attempts += u.GetAttempts()
		d.Errors = mergeNames(d.Errors, u.GetErrors(), 0)
		d.LatencyMs = mergeSketch(d.LatencyMs, u.GetLatencyMs())
	}
}

func mergeCodes(dst, src []*metricsv1.CodeCount) []*metricsv1.CodeCount {
	for _, c := range src {
		if i := slices.IndexFunc(dst, func(d *metricsv1.CodeCount) bool { return d.GetCode() == c.GetCode() }); i >= 0 {
			dst[i].Count += c.GetCount()
		} else {
			dst = append(dst, &metricsv1.CodeCount{Code: c.GetCode(), Count: c.GetCount()})
		}
	}
	slices.SortFunc(dst, func(a, b *metricsv1.CodeCount) int { return cmp.Compare(a.GetCode(), b.GetCode()) })
	return dst
}

// mergeNames adds src's counts (and error bounds) to dst; limit > 0 keeps
// the largest limit (a tail's top paths are a live view; QueryTop reads
// the stored summaries).
func mergeNames(dst, src []*metricsv1.NameCount, limit int) []*metricsv1.NameCount {
	for _, c := range src {
		if i := slices.IndexFunc(dst, func(d *metricsv1.NameCount) bool { return d.GetName() == c.GetName() }); i >= 0 {
			dst[i].Count += c.GetCount()
			dst[i].Error += c.GetError()
		} else {
			dst = append(dst, &metricsv1.NameCount{Name: c.GetName(), Count: c.GetCount(), Error: c.GetError()})
		}
	}
	slices.SortFunc(dst, func(a, b *metricsv1.NameCount) int {
		return cmp.Or(cmp.Compare(b.GetCount(), a.GetCount()), cmp.Compare(a.GetName(), b.GetName()))
	})
	if limit > 0 && len(dst) > limit {
		dst = dst[:limit]
	}
	return dst
}

// mergeSketch returns the merge of a and b; a sketch that does not decode
// or merge (another accuracy) is left out rather than failing the second.
func mergeSketch(a, b *metricsv1.Sketch) *metricsv1.Sketch {
	if b == nil {
		return a
	}
	sb, err := sketch.FromProto(b)
	if err != nil {
		return a
	}
	if a == nil {
		return sb.Proto()
	}
	sa, err := sketch.FromProto(a)
	if err != nil || sa.Merge(sb) != nil {
		return a
	}
	return sa.Proto()
}
