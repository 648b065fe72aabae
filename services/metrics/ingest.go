package metrics

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/services/metrics/store"
)

// Bounds of one report: the store checks every field and count
// (store.Limits); a message is refused before it is parsed when it is
// larger than any report a node sends.
const (
	DefaultMaxReportBytes = 1 << 20
	maxIDBytes            = store.MaxIDLen
	// ingestTimeout bounds one store write; past it the node re-sends.
	ingestTimeout = 10 * time.Second
	ingestWorkers = 4
)

// Reply headers of a refused report (the NATS micro convention): the node
// drops it instead of sending it again, since it would be refused again.
const (
	HeaderError     = "Nats-Service-Error"
	HeaderErrorCode = "Nats-Service-Error-Code"
)

// nodeOf returns the node a report subject names ("" when it names none):
// the node's credentials allow it only its own subject, so the subject is
// the sender; the body's node_id is never trusted.
func nodeOf(subject string) string {
	id, ok := strings.CutPrefix(subject, natsutil.MetricsReportPrefix)
	if !ok || id == "" || len(id) > maxIDBytes || strings.ContainsAny(id, ".*> ") {
		return ""
	}
	return id
}

// decodeReport parses one report message; the store checks its fields.
func decodeReport(data []byte, max int) (*metricsv1.Report, error) {
	if len(data) > max {
		return nil, fmt.Errorf("report is %d bytes, more than %d", len(data), max)
	}
	r := &metricsv1.Report{}
	if err := proto.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return r, nil
}

// ingest stores one report and answers it once stored: a node that gets
// no answer (store down, service gone) sends the report again, and the
// store keeps (node, boot_id, seq) once. A report that can never be stored
// gets an error answer so the node drops it.
func (s *Service) ingest(ctx context.Context, m *nats.Msg) {
	start := time.Now()
	outcome, answer := s.store1(ctx, m)
	// Counted before the answer: whoever got the answer sees the count.
	s.prom.reports.WithLabelValues(outcome).Inc()
	s.prom.ingestTime.Observe(time.Since(start).Seconds())
	if answer == nil || m.Reply == "" {
		return
	}
	answer.Subject = m.Reply
	if err := m.RespondMsg(answer); err != nil {
		s.log.Warn("answer metrics report", "subject", m.Subject, "err", err)
	}
}

// store1 stores m; it returns the outcome and the answer (nil: none, the
// node sends the report again).
func (s *Service) store1(ctx context.Context, m *nats.Msg) (string, *nats.Msg) {
	node := nodeOf(m.Subject)
	now := s.now()
	if node == "" {
		return "refused", refusal(fmt.Errorf("subject %q names no node", m.Subject))
	}
	r, err := decodeReport(m.Data, s.maxReport)
	if err != nil {
		s.log.Warn("metrics report refused", "node", node, "err", err)
		return "refused", refusal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, ingestTimeout)
	defer cancel()
	dup, err := s.results.Ingest(ctx, node, r, now)
	if apierr.IsKind(err, apierr.KindInvalid) {
		s.log.Warn("metrics report refused", "node", node, "err", err)
		return "refused", refusal(err)
	}
	if err != nil {
		s.log.Error("store metrics report", "node", node, "boot", r.GetBootId(), "seq", r.GetSeq(), "err", err)
		return "failed", nil
	}
	ack := nats.NewMsg("")
	if dup {
		ack.Header.Set("Strata-Duplicate", "true")
		return "duplicate", ack
	}
	return "stored", ack
}

// refusal is the answer to a report that can never be stored.
func refusal(err error) *nats.Msg {
	msg := nats.NewMsg("")
	msg.Header.Set(HeaderErrorCode, "400")
	msg.Header.Set(HeaderError, err.Error())
	return msg
}
