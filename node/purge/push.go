package purge

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
)

// Pushes are commands on the purge stream too (PurgeCommand.push): the
// agent fetches their URLs through the node's own proxy (Options.Push) with
// bounded concurrency, and acknowledges them like purges, with per-URL
// failures. A push runs beside the purges that follow it (a long push does
// not hold them up), after the cache is released (a held cache stores
// nothing); the saved position stays before a running push, so a restart
// runs it again (its URLs then hit).

// PushFunc fetches one URL into the node's cache.
type PushFunc func(ctx context.Context, url string) PushURL

// PushURL is what one pushed URL got.
type PushURL struct {
	Status int
	Bytes  int64
	Cached bool // the cache holds a fresh copy now
	Err    error
}

// Limits of the node side of a push.
const (
	// maxPushFailures is how many failed URLs an ack lists (it counts all).
	maxPushFailures = 50
	maxConcurrency  = 32
	// pushParallel is how many pushes one node runs at once.
	pushParallel      = 2
	defaultURLTimeout = 30 * time.Second
)

// startPush runs the push of cmd (at stream sequence seq) in the background,
// or skips it when it is not for this node's cluster.
func (a *Agent) startPush(ctx context.Context, seq uint64, cmd *purgev1.PurgeCommand) {
	push := cmd.GetPush()
	if cs := push.GetClusterIds(); len(cs) > 0 && !slices.Contains(cs, a.opts.ClusterID) {
		a.applied.Store(seq) // not ours: no ack expected
		return
	}
	ack := &purgev1.PurgeAck{PurgeId: cmd.GetPurgeId(), NodeId: a.opts.NodeID}
	if exp := push.GetExpiresAt(); exp != nil && a.now().After(exp.AsTime()) {
		ack.Error = fmt.Sprintf("push expired at %s before this node got it: not fetched", exp.AsTime().UTC().Format(time.RFC3339))
		ack.AppliedAt = timestamppb.Now()
		a.queueAck(seq, ack)
		return
	}
	if a.opts.Push == nil {
		ack.Error = "this node runs no proxy: nothing to push through"
		ack.AppliedAt = timestamppb.Now()
		a.queueAck(seq, ack)
		return
	}
	a.acks.mu.Lock()
	a.acks.running = append(a.acks.running, seq)
	a.applied.Store(seq)
	a.acks.mu.Unlock()
	a.pushes.Go(func() {
		select { // the cache stores nothing while held
		case <-a.ready:
		case <-ctx.Done():
			return
		}
		select {
		case a.pushSem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		res := a.runPush(ctx, push)
		<-a.pushSem
		if ctx.Err() != nil {
			return // stopped midway: the position stays before it
		}
		ack.Push, ack.AppliedAt = res, timestamppb.Now()
		a.opts.Logger.Debug("purge agent: push done", "push", ack.PurgeId, "cached", res.Cached, "failed", res.Failed)
		a.finishPush(seq, ack)
	})
}

// runPush fetches the URLs of push, at most its concurrency at once.
func (a *Agent) runPush(ctx context.Context, push *purgev1.PushCommand) *purgev1.PushResult {
	conc := min(max(int(push.GetConcurrency()), 1), maxConcurrency)
	timeout := defaultURLTimeout
	if d := push.GetUrlTimeout(); d != nil && d.AsDuration() > 0 {
		timeout = d.AsDuration()
	}
	res := &purgev1.PushResult{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, conc)
	for _, u := range push.GetUrls() {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			uctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("timed out after %s", timeout))
			r := a.opts.Push(uctx, u)
			cancel()
			mu.Lock()
			defer mu.Unlock()
			res.Bytes += r.Bytes
			switch {
			case r.Err == nil && r.Cached:
				res.Cached++
			default:
				res.Failed++
				if len(res.Failures) < maxPushFailures {
					msg := "not cached"
					if r.Err != nil {
						msg = r.Err.Error()
					}
					res.Failures = append(res.Failures, &purgev1.PushURLResult{Url: u, Status: int32(r.Status), Bytes: r.Bytes, Error: msg})
				}
			}
		})
	}
	wg.Wait()
	slices.SortFunc(res.Failures, func(x, y *purgev1.PushURLResult) int { return strings.Compare(x.Url, y.Url) })
	return res
}

// finishPush queues the ack of the push at seq and drops it from the
// running ones, in one step (savable never sees neither).
func (a *Agent) finishPush(seq uint64, ack *purgev1.PurgeAck) {
	a.acks.mu.Lock()
	a.acks.running = slices.DeleteFunc(a.acks.running, func(s uint64) bool { return s == seq })
	a.insertAckLocked(seq, ack)
	a.acks.mu.Unlock()
	a.kickAcks()
}
