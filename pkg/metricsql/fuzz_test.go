package metricsql

import (
	"errors"
	"strings"
	"testing"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
)

// FuzzCompile: any text compiles or fails with an *Error naming a clause;
// a compiled query aggregates a stream, within its group cap, and its
// results merge into a table of its columns.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		mergeSQL,
		`select uri, host, count(*) from reqs group by uri, host limit 10`,
		`select path, count(*) as n from reqs group by path order by n desc limit 2`,
		`select client_ip, asn, count(*) from reqs where country = 'DE' or client_ip in ('192.0.2.1') group by client_ip, asn`,
		`select http_user_agent, count(*) from reqs where http_user_agent rlike '^curl' and status between 200 and 299 group by 1`,
		`select count(*), sum(bytes), quantile(0.5, bytes_in) from reqs where upstream is not null and not path like '_a%b\%'`,
		`select count(distinct host) from reqs`,
		`select * from reqs join x`,
		`select host from reqs where path regexp '(a'`,
	} {
		f.Add(s)
	}
	reqs := stream()
	clauses := map[string]bool{"SQL": true, "SELECT": true, "FROM": true, "WHERE": true, "GROUP BY": true, "HAVING": true, "ORDER BY": true, "LIMIT": true}
	f.Fuzz(func(t *testing.T, sql string) {
		q, err := Compile(sql)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !clauses[e.Clause] || !strings.HasPrefix(err.Error(), e.Clause+": ") {
				t.Fatalf("Compile(%q): %v (%T), want an *Error naming a clause", sql, err, err)
			}
			return
		}
		var results []*metricsv1.MetricResult
		for range 2 {
			a := q.NewAggregator(Limits{MaxGroups: 2})
			for i := range reqs {
				a.Add(&reqs[i])
				if a.Groups() > 2 {
					t.Fatalf("%d groups, cap 2", a.Groups())
				}
			}
			results = append(results, a.Flush("m", 1, t0, 10))
		}
		tab, err := q.Table(results)
		if err != nil {
			t.Fatalf("Table: %v", err)
		}
		for _, r := range tab.Rows {
			if len(r.Values) != len(q.Columns()) {
				t.Fatalf("row of %d values, %d columns", len(r.Values), len(q.Columns()))
			}
		}
	})
}
