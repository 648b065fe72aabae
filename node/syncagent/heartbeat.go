package syncagent

import (
	"context"
	"math/rand/v2"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// heartbeat publishes NodeStatus every Options.Heartbeat.
func (a *Agent) heartbeat(ctx context.Context) {
	t := time.NewTicker(a.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.publishStatus()
		}
	}
}

func jitter(d time.Duration) time.Duration {
	return d - d/5 + rand.N(d/5*2+1)
}

// publishStatus sends a NodeStatus heartbeat (fire and forget: the next one
// follows).
func (a *Agent) publishStatus() {
	data, err := proto.Marshal(a.status())
	if err != nil {
		a.log.Error("encode node status", "err", err)
		return
	}
	if err := a.opts.NATS.Publish(natsutil.NodeStatusSubject(a.opts.NodeID), data); err != nil {
		a.log.Debug("publish node status", "err", err)
	}
}

// status is the node's NodeStatus now.
func (a *Agent) status() *syncv1.NodeStatus {
	a.mu.Lock()
	appliedAt, applyErr := a.appliedAt, a.applyErr
	a.mu.Unlock()
	st := &syncv1.NodeStatus{
		NodeId:      a.opts.NodeID,
		ClusterId:   a.opts.ClusterID,
		PartitionId: a.opts.PartitionID,
		Version:     a.version.Load(),
		Healthy:     applyErr == nil,
		Time:        timestamppb.Now(),
	}
	if applyErr != nil {
		st.ApplyError = applyErr.Error()
	}
	if !appliedAt.IsZero() {
		st.AppliedAt = timestamppb.New(appliedAt)
	}
	if a.opts.Health != nil {
		healthy, rps, conns := a.opts.Health()
		st.Healthy = st.Healthy && healthy
		st.RequestsPerSecond, st.Connections = rps, conns
	}
	if a.opts.Status != nil {
		a.opts.Status(st)
	}
	return st
}
