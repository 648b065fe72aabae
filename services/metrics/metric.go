package metrics

import (
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ev "github.com/strata-edge/strata/gen/strata/events/metrics/v1"
	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/metricsql"
	"github.com/strata-edge/strata/pkg/validate"
)

// Limits of a definition. The SQL runs on every node of its partitions for
// every request, so it is kept small; the count bounds what each node
// compiles and aggregates.
const (
	MaxSQLBytes         = 4 << 10
	MaxDescriptionBytes = 1 << 10
	MaxMetrics          = 1000
	MaxPartitions       = 256
	DefaultInterval     = 10
	MaxInterval         = 3600
)

// maxMetrics is MaxMetrics; tests lower it.
var maxMetrics = MaxMetrics

// Metric is the aggregate of one Metric SQL definition. Commands validate
// and return events; state changes only in Apply.
type Metric struct {
	id      string
	version uint64 // event-log position of its newest event
	exists  bool   // defined and not deleted
	def     *metricsv1.MetricDefinition
	created time.Time
	// sqlSince is the version that set the current SQL: the nodes' results
	// of earlier versions have another shape.
	sqlSince uint64
}

// NewMetric returns the empty aggregate of metric id (to create or to fold
// its events into).
func NewMetric(id string) *Metric { return &Metric{id: id} }

// ID, Version and Exists describe the aggregate.
func (m *Metric) ID() string      { return m.id }
func (m *Metric) Version() uint64 { return m.version }
func (m *Metric) Exists() bool    { return m.exists }

// SQLSince is the version from which the nodes run the current SQL.
func (m *Metric) SQLSince() uint64 { return m.sqlSince }

// Definition returns the current content (shared; do not modify), nil when
// the metric does not exist.
func (m *Metric) Definition() *metricsv1.MetricDefinition {
	if !m.exists {
		return nil
	}
	return m.def
}

// Spec is the content of a definition as a command gives it; Partitions
// are resolved partition ids (empty: every partition).
type Spec struct {
	Name, Description, SQL string
	IntervalSeconds        uint32
	Partitions             []string
}

// Change is an update: nil fields keep their values.
type Change struct {
	Description, SQL *string
	IntervalSeconds  *uint32
	Partitions       *[]string
}

// Create defines the metric.
func (m *Metric) Create(s Spec) ([]proto.Message, error) {
	if m.exists || m.version != 0 {
		return nil, apierr.FailedPrecondition(fmt.Sprintf("metric %s exists already", m.id))
	}
	def, err := checkSpec(m.id, s)
	if err != nil {
		return nil, err
	}
	return []proto.Message{&ev.MetricDefined{Definition: def}}, nil
}

// Update changes what c sets; an update that changes nothing records no
// event.
func (m *Metric) Update(c Change) ([]proto.Message, error) {
	if !m.exists {
		return nil, apierr.NotFound("metric", m.id)
	}
	s := Spec{Name: m.def.GetName(), Description: m.def.GetDescription(), SQL: m.def.GetSql(),
		IntervalSeconds: m.def.GetIntervalSeconds(), Partitions: m.def.GetPartitionIds()}
	if c.Description != nil {
		s.Description = *c.Description
	}
	if c.SQL != nil {
		s.SQL = *c.SQL
	}
	if c.IntervalSeconds != nil {
		s.IntervalSeconds = *c.IntervalSeconds
	}
	if c.Partitions != nil {
		s.Partitions = *c.Partitions
	}
	def, err := checkSpec(m.id, s)
	if err != nil {
		return nil, err
	}
	if proto.Equal(def, content(m.def)) {
		return nil, nil
	}
	return []proto.Message{&ev.MetricDefined{Definition: def}}, nil
}

// Delete removes the metric.
func (m *Metric) Delete() ([]proto.Message, error) {
	if !m.exists {
		return nil, apierr.NotFound("metric", m.id)
	}
	return []proto.Message{&ev.MetricDeleted{MetricId: m.id}}, nil
}

// Apply folds one event of the metric's stream at log position pos.
func (m *Metric) Apply(pos uint64, msg proto.Message) { m.ApplyAt(pos, time.Time{}, msg) }

// ApplyAt is Apply with the event's time, which becomes created_at and
// updated_at (the event metadata is the one clock of record).
func (m *Metric) ApplyAt(pos uint64, at time.Time, msg proto.Message) {
	switch e := msg.(type) {
	case *ev.MetricDefined:
		if !m.exists {
			m.created = at
		}
		d := proto.Clone(e.GetDefinition()).(*metricsv1.MetricDefinition)
		d.Id, d.Version = m.id, pos
		if !m.exists || d.GetSql() != m.def.GetSql() {
			m.sqlSince = pos
		}
		if !at.IsZero() {
			d.CreatedAt, d.UpdatedAt = timestamppb.New(m.created), timestamppb.New(at)
		}
		m.def, m.exists = d, true
	case *ev.MetricDeleted:
		m.exists = false
	default:
		return
	}
	m.version = pos
}

// content is d without what the reader sets (version, times): what an
// event carries.
func content(d *metricsv1.MetricDefinition) *metricsv1.MetricDefinition {
	return &metricsv1.MetricDefinition{Id: d.GetId(), Name: d.GetName(), Description: d.GetDescription(), Sql: d.GetSql(),
		IntervalSeconds: d.GetIntervalSeconds(), PartitionIds: d.GetPartitionIds()}
}

// checkSpec validates s and returns the event content of metric id, every
// violation named by its request field.
func checkSpec(id string, s Spec) (*metricsv1.MetricDefinition, error) {
	var vs []apierr.FieldViolation
	bad := func(field, reason string) { vs = append(vs, apierr.FieldViolation{Field: field, Reason: reason}) }
	if r := validate.Name(s.Name); r != "" {
		bad("name", r)
	}
	switch {
	case len(s.Description) > MaxDescriptionBytes:
		bad("description", fmt.Sprintf("is %d bytes long, more than %d", len(s.Description), MaxDescriptionBytes))
	case !utf8.ValidString(s.Description):
		bad("description", "is not valid UTF-8")
	}
	switch {
	case s.SQL == "":
		bad("sql", "is required: one SELECT ... FROM reqs")
	case len(s.SQL) > MaxSQLBytes:
		bad("sql", fmt.Sprintf("is %d bytes long, more than %d", len(s.SQL), MaxSQLBytes))
	default:
		// The node compiles the same text with the same package: what is
		// accepted here runs there.
		if _, err := metricsql.Compile(s.SQL); err != nil {
			bad("sql", err.Error())
		}
	}
	interval := s.IntervalSeconds
	if interval == 0 {
		interval = DefaultInterval
	}
	if interval > MaxInterval {
		bad("interval_seconds", fmt.Sprintf("%d is out of range 1-%d seconds", interval, MaxInterval))
	}
	if len(s.Partitions) > MaxPartitions {
		bad("partition_ids", fmt.Sprintf("%d partitions, more than %d", len(s.Partitions), MaxPartitions))
	}
	var parts []string
	for i, p := range s.Partitions {
		if p == "" {
			bad(fmt.Sprintf("partition_ids[%d]", i), "is empty")
		} else if !slices.Contains(parts, p) {
			parts = append(parts, p)
		}
	}
	if len(vs) > 0 {
		return nil, apierr.Invalid(vs...)
	}
	slices.Sort(parts)
	return &metricsv1.MetricDefinition{Id: id, Name: s.Name, Description: s.Description, Sql: s.SQL,
		IntervalSeconds: interval, PartitionIds: parts}, nil
}
