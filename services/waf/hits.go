package waf

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// The hit log. Nodes publish each hit on core NATS (natsutil.WafHitSubject);
// stream STRATA_WAF_HITS keeps them, bounded by age and bytes. Every
// replica of the service folds the whole stream with an ordered consumer
// (no durable state of its own) into the newest hits (ListHits, the start
// of WatchHits) and counts per app, policy and rule (GetRuleStats).
const (
	DefaultHitMaxAge   = 7 * 24 * time.Hour
	DefaultHitMaxBytes = 512 << 20
	// MaxHitBytes bounds one hit message (a node truncates matched data
	// long before): larger ones are not stored.
	MaxHitBytes = 64 << 10
	// recentHits is how many of the newest hits ListHits and WatchHits'
	// since read from (the stream keeps more; GetRuleStats counts all).
	recentHits = 20_000
	// maxRuleKeys bounds the per (app, policy, rule) counters; hits of
	// keys past it are counted in droppedKeys.
	maxRuleKeys = 100_000
	// watchBuffer is a WatchHits stream's inbox; a client reading slower
	// than hits arrive misses them (counted, never blocking the fold).
	watchBuffer = 1024
	maxPageSize = 1000
)

// EnsureHitStream creates or updates the hit stream.
func EnsureHitStream(ctx context.Context, js jetstream.JetStream, replicas int, maxAge time.Duration, maxBytes int64) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        natsutil.WafHitStream,
		Description: "WAF hits the nodes report, one subject per node",
		Subjects:    []string{natsutil.WafHitAll},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      cmp.Or(maxAge, DefaultHitMaxAge),
		MaxBytes:    cmp.Or(maxBytes, DefaultHitMaxBytes),
		MaxMsgSize:  MaxHitBytes,
		Replicas:    max(replicas, 1),
	})
	if err != nil {
		return fmt.Errorf("waf: stream %s: %w", natsutil.WafHitStream, err)
	}
	return nil
}

// hitLog is what the service folded of the hit stream.
type hitLog struct {
	mu       sync.Mutex
	seq      uint64          // last stream sequence folded
	recent   []*wafv1.WafHit // ring of the newest, oldest at next
	next     int
	stats    map[ruleKey]*wafv1.RuleStat
	dropped  uint64 // hits of rule keys past maxRuleKeys
	watchers map[*watcher]struct{}
}

type ruleKey struct{ app, policy, rule string }

type watcher struct {
	app, policy string
	ch          chan *wafv1.WafHit
	missed      uint64
}

func newHitLog() *hitLog {
	return &hitLog{stats: map[ruleKey]*wafv1.RuleStat{}, watchers: map[*watcher]struct{}{}}
}

// add folds one hit: the ring, the counters, the watchers.
func (l *hitLog) add(seq uint64, h *wafv1.WafHit) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq = seq
	if len(l.recent) < recentHits {
		l.recent = append(l.recent, h)
	} else {
		l.recent[l.next] = h
		l.next = (l.next + 1) % recentHits
	}
	blocked := h.GetStatus() != 0 && h.GetAction() != "log" && h.GetAction() != "detect"
	for _, m := range h.GetMatches() {
		k := ruleKey{h.GetAppId(), h.GetPolicyId(), m.GetRuleId()}
		st := l.stats[k]
		if st == nil {
			if len(l.stats) >= maxRuleKeys {
				l.dropped++
				continue
			}
			st = &wafv1.RuleStat{RuleId: m.GetRuleId()}
			l.stats[k] = st
		}
		st.Hits++
		if blocked {
			st.Blocked++
		}
		st.LastHit = h.GetTime()
	}
	for w := range l.watchers {
		if !w.wants(h) {
			continue
		}
		select {
		case w.ch <- h:
		default:
			w.missed++
		}
	}
}

func (w *watcher) wants(h *wafv1.WafHit) bool {
	return (w.app == "" || h.GetAppId() == w.app) && (w.policy == "" || h.GetPolicyId() == w.policy)
}

func matches(h *wafv1.WafHit, app, policy string, since time.Time) bool {
	return (app == "" || h.GetAppId() == app) && (policy == "" || h.GetPolicyId() == policy) &&
		(since.IsZero() || !h.GetTime().AsTime().Before(since))
}

// newest returns at most n of the recent hits that match, newest first.
// Called with l.mu held.
func (l *hitLog) newest(app, policy string, since time.Time, n int) []*wafv1.WafHit {
	var out []*wafv1.WafHit
	for i := range len(l.recent) {
		// Newest is just before next.
		h := l.recent[(l.next-1-i+2*len(l.recent))%len(l.recent)]
		if matches(h, app, policy, since) {
			out = append(out, h)
			if len(out) == n {
				break
			}
		}
	}
	return out
}

// list is ListHits.
func (l *hitLog) list(app, policy string, since time.Time, pageSize int) []*wafv1.WafHit {
	if pageSize <= 0 {
		pageSize = 100
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.newest(app, policy, since, min(pageSize, maxPageSize))
}

// watch registers a watcher and returns, oldest first, the recent hits
// since since (none when zero): the live ones follow on w.ch with no gap
// and no repeat, both taken under one lock.
func (l *hitLog) watch(app, policy string, since time.Time) (*watcher, []*wafv1.WafHit) {
	w := &watcher{app: app, policy: policy, ch: make(chan *wafv1.WafHit, watchBuffer)}
	l.mu.Lock()
	defer l.mu.Unlock()
	var first []*wafv1.WafHit
	if !since.IsZero() {
		first = l.newest(app, policy, since, recentHits)
		slices.Reverse(first)
	}
	l.watchers[w] = struct{}{}
	return w, first
}

func (l *hitLog) unwatch(w *watcher) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.watchers, w)
}

// ruleStats is GetRuleStats: counts summed per rule id over the keys that
// match, most hits first.
func (l *hitLog) ruleStats(app, policy string) []*wafv1.RuleStat {
	l.mu.Lock()
	defer l.mu.Unlock()
	by := map[string]*wafv1.RuleStat{}
	for k, st := range l.stats {
		if (app != "" && k.app != app) || (policy != "" && k.policy != policy) {
			continue
		}
		sum := by[k.rule]
		if sum == nil {
			sum = &wafv1.RuleStat{RuleId: k.rule}
			by[k.rule] = sum
		}
		sum.Hits += st.Hits
		sum.Blocked += st.Blocked
		if sum.LastHit == nil || st.LastHit.AsTime().After(sum.LastHit.AsTime()) {
			sum.LastHit = st.LastHit
		}
	}
	out := make([]*wafv1.RuleStat, 0, len(by))
	for _, st := range by {
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b *wafv1.RuleStat) int {
		return cmp.Or(cmp.Compare(b.Hits, a.Hits), strings.Compare(a.RuleId, b.RuleId))
	})
	return out
}

// foldHits follows the hit stream until ctx ends, resuming after the last
// sequence folded when the consumer fails.
func (s *Service) foldHits(ctx context.Context) {
	for wait := 100 * time.Millisecond; ctx.Err() == nil; wait = min(2*wait, 5*time.Second) {
		err := s.followHits(ctx)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("waf hit stream: consumer ended; retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

func (s *Service) followHits(ctx context.Context) error {
	s.hits.mu.Lock()
	after := s.hits.seq
	s.hits.mu.Unlock()
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{natsutil.WafHitAll}}
	if after > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, after+1
	}
	cons, err := s.opts.JetStream.OrderedConsumer(ctx, natsutil.WafHitStream, cfg)
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if errors.Is(err, context.Canceled) || ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		meta, err := m.Metadata()
		if err != nil {
			continue
		}
		if h := s.decodeHit(m.Subject(), m.Data(), meta.Timestamp); h != nil {
			s.hits.add(meta.Sequence.Stream, h)
		}
	}
}

// decodeHit parses a hit a node sent on subject at time at, or nil when
// it is not one. The node id is the subject's (a node may publish on its
// own subject only), whatever the message says.
func (s *Service) decodeHit(subject string, data []byte, at time.Time) *wafv1.WafHit {
	node, ok := strings.CutPrefix(subject, natsutil.WafHitPrefix)
	if !ok || node == "" || len(data) > MaxHitBytes {
		return nil
	}
	h := &wafv1.WafHit{}
	if err := proto.Unmarshal(data, h); err != nil {
		s.log.Debug("waf hit: undecodable", "node", node, "err", err)
		return nil
	}
	h.NodeId = node
	if h.Time == nil {
		h.Time = timestamppb.New(at)
	}
	return h
}
