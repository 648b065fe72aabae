package metrics

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/services/metrics/store"
)

// DefaultLivenessTimeout is how long a node may send no report before it
// counts as down: a few flush intervals.
const DefaultLivenessTimeout = 15 * time.Second

// livenessLookback is how many of a node's newest health changes are read
// to find its last liveness change.
const livenessLookback = 200

// forgetAfter drops a node from the liveness table once it has been down
// this long (a removed node), so the table stays bounded.
const forgetAfter = 24 * time.Hour

// Gateways tells why a node is out of the gateway DNS answers (the nodes
// service's heartbeats); "" when it is in them or unknown. Optional.
type Gateways interface {
	GatewayReason(nodeID string) string
}

// liveness is the last report time of every node this process saw (every
// replica sees every report: the watch subscription has no queue group)
// and the health last recorded for it.
type liveness struct {
	mu    sync.Mutex
	nodes map[string]*life
}

type life struct {
	last time.Time
	// recorded is the state the store holds for the node as far as this
	// process knows; nil until checked.
	recorded *bool
}

func (l *liveness) seen(node string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.nodes == nil {
		l.nodes = map[string]*life{}
	}
	n := l.nodes[node]
	if n == nil {
		n = &life{}
		l.nodes[node] = n
	}
	if at.After(n.last) {
		n.last = at
	}
}

// count returns how many nodes reported within timeout and how many did
// not.
func (l *liveness) count(now time.Time, timeout time.Duration) (reporting, silent int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.nodes {
		if now.Sub(n.last) <= timeout {
			reporting++
		} else {
			silent++
		}
	}
	return reporting, silent
}

type lifeCheck struct {
	node    string
	last    time.Time
	healthy bool
}

// due returns the nodes whose state differs from the one recorded (or not
// yet checked) as of now, and forgets the long-dead.
func (l *liveness) due(now time.Time, timeout time.Duration) []lifeCheck {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []lifeCheck
	for id, n := range l.nodes {
		healthy := now.Sub(n.last) <= timeout
		if !healthy && now.Sub(n.last) > forgetAfter {
			delete(l.nodes, id)
			continue
		}
		if n.recorded == nil || *n.recorded != healthy {
			out = append(out, lifeCheck{id, n.last, healthy})
		}
	}
	return out
}

func (l *liveness) setRecorded(node string, healthy bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.nodes[node]; n != nil {
		n.recorded = &healthy
	}
}

// checkLiveness records the liveness changes due now. Before recording, it
// reads the node's newest change: another replica (or this process before
// a restart) may have recorded it already, and a node first seen healthy
// with no history needs no record.
func (s *Service) checkLiveness(ctx context.Context, now time.Time) {
	for _, c := range s.life.due(now, s.livenessTimeout) {
		// Newest first, the node's upstream servers' changes among them:
		// the newest liveness change is among the first few.
		latest, err := s.results.Health(ctx, store.HealthQuery{NodeID: c.node, End: now.Add(time.Minute), Start: now.Add(-MaxRange), Limit: livenessLookback})
		if err != nil {
			s.log.Error("read node health", "node", c.node, "err", err)
			continue
		}
		var last *metricsv1.HealthChange
		for _, h := range latest {
			if h.GetServer() == "" && h.GetUpstream() == "" && h.GetAppId() == "" {
				last = h
				break
			}
		}
		if (last == nil && c.healthy) || (last != nil && last.GetHealthy() == c.healthy) {
			s.life.setRecorded(c.node, c.healthy)
			continue
		}
		ch := &metricsv1.HealthChange{NodeId: c.node, Healthy: c.healthy}
		if c.healthy {
			ch.Time, ch.Reason = timestamppb.New(c.last), "metrics report received"
		} else {
			ch.Time, ch.Reason = timestamppb.New(now), fmt.Sprintf("no metrics report for %s", s.livenessTimeout)
			if s.gateways != nil {
				if why := s.gateways.GatewayReason(c.node); why != "" {
					ch.Reason += "; out of the gateway answers: " + why
				}
			}
		}
		if err := s.results.RecordHealth(ctx, []*metricsv1.HealthChange{ch}); err != nil {
			s.log.Error("record node health", "node", c.node, "err", err)
			continue
		}
		s.life.setRecorded(c.node, c.healthy)
	}
}

// runLiveness checks liveness once a second until ctx ends.
func (s *Service) runLiveness(ctx context.Context) {
	t := time.NewTicker(s.livenessTimeout / 15)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.checkLiveness(ctx, s.now())
		}
	}
}

// runCompact has the store downsample and drop what retention ends, once
// a minute.
func (s *Service) runCompact(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.results.Compact(ctx, s.now()); err != nil {
				s.log.Error("compact metrics store", "err", err)
			}
		}
	}
}
