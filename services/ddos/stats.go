package ddos

import (
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ddosv1 "github.com/strata-edge/strata/gen/strata/ddos/v1"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// maxReportCounters bounds one report: the filter has a dozen reasons.
const maxReportCounters = 64

// reports are the last filter report of each node, in memory only: counters
// are totals the node sends again every interval.
type reports struct {
	mu     sync.Mutex
	byNode map[string]*ddosv1.DdosReport
}

// onReport keeps a node's report; the node and cluster ids are the
// subject's and the control plane's, not the node's say.
func (s *Service) onReport(m *nats.Msg) {
	nodeID := strings.TrimPrefix(m.Subject, natsutil.DdosReportPrefix)
	if nodeID == "" || strings.Contains(nodeID, ".") {
		return
	}
	var r ddosv1.DdosReport
	if err := proto.Unmarshal(m.Data, &r); err != nil || len(r.GetCounters()) > maxReportCounters {
		s.log.Warn("ddos: bad report", "node", nodeID, "err", err, "counters", len(r.GetCounters()))
		return
	}
	r.NodeId = nodeID
	r.ClusterId, _ = s.opts.Clusters.NodeCluster(nodeID)
	r.Detail = truncate(r.GetDetail(), 1000)
	if r.ReportedAt == nil {
		r.ReportedAt = timestamppb.New(s.now())
	}
	s.reports.mu.Lock()
	defer s.reports.mu.Unlock()
	if s.reports.byNode == nil {
		s.reports.byNode = map[string]*ddosv1.DdosReport{}
	}
	s.reports.byNode[nodeID] = &r
}

// list returns the reports of cluster's nodes (all when ""), by node id.
func (r *reports) list(cluster string) []*ddosv1.DdosReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*ddosv1.DdosReport
	for _, rep := range r.byNode {
		if cluster == "" || rep.GetClusterId() == cluster {
			out = append(out, rep)
		}
	}
	slices.SortFunc(out, func(a, b *ddosv1.DdosReport) int { return strings.Compare(a.GetNodeId(), b.GetNodeId()) })
	return out
}
