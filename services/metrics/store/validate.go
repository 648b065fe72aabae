package store

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/sketch"
)

func invalid(field, format string, args ...any) error {
	return apierr.Invalid(apierr.FieldViolation{Field: field, Reason: fmt.Sprintf(format, args...)})
}

func checkID(field, v string, required bool) error {
	if v == "" {
		if required {
			return invalid(field, "required")
		}
		return nil
	}
	if len(v) > MaxIDLen {
		return invalid(field, "%d bytes, at most %d", len(v), MaxIDLen)
	}
	return nil
}

func checkName(field, v string) error {
	if len(v) > MaxNameLen {
		return invalid(field, "%d bytes, at most %d", len(v), MaxNameLen)
	}
	return nil
}

// checkSketch decodes an untrusted sketch; nil for an absent one. The
// store merges sketches of one accuracy only (sketch.DefaultAccuracy).
func checkSketch(field string, p *metricsv1.Sketch) (*sketch.Sketch, error) {
	if p == nil {
		return nil, nil
	}
	s, err := sketch.FromProto(p)
	if err != nil {
		return nil, invalid(field, "%v", err)
	}
	if s.Accuracy() != sketch.DefaultAccuracy {
		return nil, invalid(field, "relative accuracy %v: the store merges sketches of %v only", s.Accuracy(), sketch.DefaultAccuracy)
	}
	if math.IsNaN(p.Sum) || math.IsInf(p.Sum, 0) || math.IsNaN(p.Min) || math.IsNaN(p.Max) || p.Min > p.Max {
		return nil, invalid(field, "sum/min/max %v/%v/%v are not a sketch's", p.Sum, p.Min, p.Max)
	}
	return s, nil
}

func checkNames(field string, ns []*metricsv1.NameCount) error {
	if len(ns) > MaxNames {
		return invalid(field, "%d entries, at most %d", len(ns), MaxNames)
	}
	for i, n := range ns {
		if n.GetName() == "" {
			return invalid(fmt.Sprintf("%s[%d].name", field, i), "required")
		}
		if err := checkName(fmt.Sprintf("%s[%d].name", field, i), n.GetName()); err != nil {
			return err
		}
	}
	return nil
}

// validateReport checks a report against the limits before anything is
// stored.
func validateReport(nodeID string, r *metricsv1.Report, received time.Time) error {
	if r == nil {
		return invalid("report", "required")
	}
	if err := checkID("node_id", nodeID, true); err != nil {
		return err
	}
	if err := checkID("boot_id", r.BootId, true); err != nil {
		return err
	}
	if r.Seq == 0 {
		return invalid("seq", "must be at least 1")
	}
	if err := checkID("cluster_id", r.ClusterId, false); err != nil {
		return err
	}
	if err := checkID("partition_id", r.PartitionId, false); err != nil {
		return err
	}
	future := received.Add(maxFutureSkew).Unix()
	checkSecond := func(field string, s int64) error {
		if s <= 0 || s > future {
			return invalid(field, "%d is not a second between 1970 and an hour after receipt", s)
		}
		return nil
	}
	if len(r.Apps) > MaxAppSeconds {
		return invalid("apps", "%d app-seconds, at most %d", len(r.Apps), MaxAppSeconds)
	}
	for i, a := range r.Apps {
		f := fmt.Sprintf("apps[%d]", i)
		if err := checkID(f+".app_id", a.AppId, true); err != nil {
			return err
		}
		if err := checkSecond(f+".unix_second", a.UnixSecond); err != nil {
			return err
		}
		if len(a.Status) > MaxStatusCodes {
			return invalid(f+".status", "%d codes, at most %d", len(a.Status), MaxStatusCodes)
		}
		for j, c := range a.Status {
			if c.Code < 100 || c.Code > 999 {
				return invalid(fmt.Sprintf("%s.status[%d].code", f, j), "%d is not an HTTP status", c.Code)
			}
		}
		if _, err := checkSketch(f+".latency_ms", a.LatencyMs); err != nil {
			return err
		}
		if len(a.Upstreams) > MaxUpstreams {
			return invalid(f+".upstreams", "%d servers, at most %d", len(a.Upstreams), MaxUpstreams)
		}
		for j, u := range a.Upstreams {
			uf := fmt.Sprintf("%s.upstreams[%d]", f, j)
			if u.Server == "" {
				return invalid(uf+".server", "required")
			}
			if err := checkName(uf+".server", u.Server); err != nil {
				return err
			}
			if err := checkNames(uf+".errors", u.Errors); err != nil {
				return err
			}
			if _, err := checkSketch(uf+".latency_ms", u.LatencyMs); err != nil {
				return err
			}
		}
		if err := checkWAFRules(f+".waf_rules", a.WafRules); err != nil {
			return err
		}
		for _, ns := range []struct {
			name string
			v    []*metricsv1.NameCount
		}{{"cache", a.Cache}, {"paths", a.Paths}, {"upstream_errors", a.UpstreamErrors}} {
			if err := checkNames(f+"."+ns.name, ns.v); err != nil {
				return err
			}
		}
	}
	if len(r.System) > MaxSystemSamples {
		return invalid("system", "%d samples, at most %d", len(r.System), MaxSystemSamples)
	}
	for i, s := range r.System {
		if err := checkSecond(fmt.Sprintf("system[%d].unix_second", i), s.UnixSecond); err != nil {
			return err
		}
		if len(s.Disks) > MaxNames || len(s.Interfaces) > MaxUpstreams {
			return invalid(fmt.Sprintf("system[%d]", i), "%d disks, %d interfaces: at most %d and %d", len(s.Disks), len(s.Interfaces), MaxNames, MaxUpstreams)
		}
	}
	if len(r.Metrics) > MaxMetricResults {
		return invalid("metrics", "%d results, at most %d", len(r.Metrics), MaxMetricResults)
	}
	for i, m := range r.Metrics {
		f := fmt.Sprintf("metrics[%d]", i)
		if err := checkID(f+".metric_id", m.MetricId, true); err != nil {
			return err
		}
		if err := checkSecond(f+".window_start_unix", m.WindowStartUnix); err != nil {
			return err
		}
		if len(m.Rows) > MaxMetricRows {
			return invalid(f+".rows", "%d rows, at most %d", len(m.Rows), MaxMetricRows)
		}
		for j, row := range m.Rows {
			for k, a := range row.Aggs {
				if _, err := checkSketch(fmt.Sprintf("%s.rows[%d].aggs[%d].sketch", f, j, k), a.Sketch); err != nil {
					return err
				}
			}
		}
	}
	if len(r.Servers) > MaxServers {
		return invalid("servers", "%d servers, at most %d", len(r.Servers), MaxServers)
	}
	for i, s := range r.Servers {
		f := fmt.Sprintf("servers[%d]", i)
		if err := checkID(f+".app_id", s.AppId, false); err != nil {
			return err
		}
		if s.Server == "" {
			return invalid(f+".server", "required")
		}
		for _, n := range []struct{ f, v string }{{".upstream", s.Upstream}, {".server", s.Server}, {".reason", s.Reason}} {
			if err := checkName(f+n.f, n.v); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkRange(start, end time.Time) error {
	if start.IsZero() {
		return invalid("start", "required")
	}
	if end.IsZero() {
		return invalid("end", "required")
	}
	if !end.After(start) {
		return invalid("end", "%v is not after start %v", end.UTC(), start.UTC())
	}
	return nil
}

// WAFActions are the actions of WafRuleCount.
var WAFActions = []string{"blocked", "challenged", "detected"}

func checkWAFRules(field string, rs []*metricsv1.WafRuleCount) error {
	if len(rs) > MaxWAFRules {
		return invalid(field, "%d entries, at most %d", len(rs), MaxWAFRules)
	}
	for i, r := range rs {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case r.GetRuleId() == "":
			return invalid(f+".rule_id", "required")
		case len(r.GetRuleId()) > MaxWAFRuleIDLen:
			return invalid(f+".rule_id", "%d bytes, at most %d", len(r.GetRuleId()), MaxWAFRuleIDLen)
		case !slices.Contains(WAFActions, r.GetAction()):
			return invalid(f+".action", "%q is not one of %s", r.GetAction(), strings.Join(WAFActions, ", "))
		}
	}
	return nil
}
