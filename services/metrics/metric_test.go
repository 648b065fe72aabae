package metrics

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	ev "github.com/strata-edge/strata/gen/strata/events/metrics/v1"
	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/pkg/aggtest"
	"github.com/strata-edge/strata/pkg/apierr"
)

const okSQL = "select host, count(*) from reqs group by host"

func given(msgs ...proto.Message) *Metric { return aggtest.Given(NewMetric("m1"), msgs...) }

func defined(name, sql string, interval uint32, parts ...string) *ev.MetricDefined {
	return &ev.MetricDefined{Definition: &metricsv1.MetricDefinition{Id: "m1", Name: name, Sql: sql, IntervalSeconds: interval, PartitionIds: parts}}
}

func ptr[T any](v T) *T { return &v }

func TestCreate(t *testing.T) {
	msgs, err := NewMetric("m1").Create(Spec{Name: "hosts", SQL: okSQL, Partitions: []string{"p2", "p1", "p2"}})
	aggtest.Then(t, msgs, err, defined("hosts", okSQL, DefaultInterval, "p1", "p2"))

	msgs, err = given(defined("hosts", okSQL, 10)).Create(Spec{Name: "hosts", SQL: okSQL})
	aggtest.Rejected(t, msgs, err, apierr.KindFailedPrecondition, "")
}

func TestCreateRejects(t *testing.T) {
	for _, tc := range []struct {
		name, field, reason string
		spec                Spec
	}{
		{"no name", "name", "required", Spec{SQL: okSQL}},
		{"bad name", "name", "invalid character", Spec{Name: "Hosts!", SQL: okSQL}},
		{"no sql", "sql", "required", Spec{Name: "a"}},
		{"sql too long", "sql", "more than 4096", Spec{Name: "a", SQL: okSQL + strings.Repeat(" ", MaxSQLBytes)}},
		{"sql not a select", "sql", "", Spec{Name: "a", SQL: "delete from reqs"}},
		{"sql join", "sql", "", Spec{Name: "a", SQL: "select count(*) from reqs join other"}},
		{"interval", "interval_seconds", "out of range 1-3600", Spec{Name: "a", SQL: okSQL, IntervalSeconds: 3601}},
		{"description", "description", "more than 1024", Spec{Name: "a", SQL: okSQL, Description: strings.Repeat("x", MaxDescriptionBytes+1)}},
		{"description utf8", "description", "UTF-8", Spec{Name: "a", SQL: okSQL, Description: "\xff"}},
		{"empty partition", "partition_ids[1]", "empty", Spec{Name: "a", SQL: okSQL, Partitions: []string{"p1", ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs, err := NewMetric("m1").Create(tc.spec)
			aggtest.Rejected(t, msgs, err, apierr.KindInvalid, tc.field)
			aggtest.Violation(t, err, tc.field, tc.reason)
		})
	}
}

func TestUpdate(t *testing.T) {
	m := given(defined("hosts", okSQL, 10, "p1"))
	msgs, err := m.Update(Change{IntervalSeconds: ptr(uint32(60)), Description: ptr("per host")})
	want := defined("hosts", okSQL, 60, "p1")
	want.Definition.Description = "per host"
	aggtest.Then(t, msgs, err, want)

	// Nothing changes: no event.
	msgs, err = m.Update(Change{SQL: ptr(okSQL), IntervalSeconds: ptr(uint32(10))})
	aggtest.Then(t, msgs, err)

	// Partitions emptied: every partition.
	msgs, err = m.Update(Change{Partitions: ptr([]string(nil))})
	aggtest.Then(t, msgs, err, defined("hosts", okSQL, 10))

	msgs, err = m.Update(Change{SQL: ptr("drop table reqs")})
	aggtest.Rejected(t, msgs, err, apierr.KindInvalid, "sql")

	msgs, err = given(defined("hosts", okSQL, 10), &ev.MetricDeleted{MetricId: "m1"}).Update(Change{SQL: ptr(okSQL)})
	aggtest.Rejected(t, msgs, err, apierr.KindNotFound, "")
}

func TestDelete(t *testing.T) {
	msgs, err := given(defined("hosts", okSQL, 10)).Delete()
	aggtest.Then(t, msgs, err, &ev.MetricDeleted{MetricId: "m1"})

	msgs, err = given().Delete()
	aggtest.Rejected(t, msgs, err, apierr.KindNotFound, "")
}

func TestApplySetsVersionAndTimes(t *testing.T) {
	m := NewMetric("m1")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m.ApplyAt(7, t0, defined("hosts", okSQL, 10))
	m.ApplyAt(9, t0.Add(time.Hour), defined("hosts", okSQL, 20))
	d := m.Definition()
	if d.GetVersion() != 9 || m.Version() != 9 || d.GetIntervalSeconds() != 20 {
		t.Fatalf("definition %v, version %d", d, m.Version())
	}
	if !d.GetCreatedAt().AsTime().Equal(t0) || !d.GetUpdatedAt().AsTime().Equal(t0.Add(time.Hour)) {
		t.Fatalf("times %v %v", d.GetCreatedAt().AsTime(), d.GetUpdatedAt().AsTime())
	}
	if m.SQLSince() != 7 {
		t.Fatalf("sql since %d: only the interval changed at 9", m.SQLSince())
	}
	m.ApplyAt(10, t0, defined("hosts", "select count(*) from reqs", 20))
	if m.SQLSince() != 10 {
		t.Fatalf("sql since %d, want 10", m.SQLSince())
	}
	m.ApplyAt(11, t0, &ev.MetricDeleted{MetricId: "m1"})
	if m.Exists() || m.Definition() != nil || m.Version() != 11 {
		t.Fatalf("deleted metric: exists %v, version %d", m.Exists(), m.Version())
	}
}
