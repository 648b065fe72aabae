package metricsql

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
)

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

// stream is a known stream of requests.
func stream() []Request {
	hdr := func(ua string) func(string) string {
		return func(name string) string {
			if name == "User-Agent" {
				return ua
			}
			return ""
		}
	}
	return []Request{
		{Time: t0, App: "shop", Host: "a.example", Path: "/api/cart", Method: "GET", Status: 200, BytesIn: 10, BytesOut: 100, LatencyMs: 10, Upstream: "10.0.0.1:80", ClientIP: netip.MustParseAddr("192.0.2.1"), Country: "DE", ASN: 3320, CacheStatus: "MISS", Header: hdr("curl/8")},
		{Time: t0, App: "shop", Host: "a.example", Path: "/api/cart", Method: "POST", Status: 200, BytesIn: 20, BytesOut: 200, LatencyMs: 20, Upstream: "10.0.0.1:80", ClientIP: netip.MustParseAddr("192.0.2.2"), Country: "DE", ASN: 3320, Header: hdr("Mozilla/5.0")},
		{Time: t0, App: "shop", Host: "a.example", Path: "/api/pay", Method: "POST", Status: 502, BytesIn: 30, BytesOut: 0, LatencyMs: 30, Upstream: "10.0.0.2:80", ClientIP: netip.MustParseAddr("192.0.2.1"), Country: "FR", Header: hdr("curl/8")},
		{Time: t0, App: "shop", Host: "b.example", Path: "/api/cart", Method: "GET", Status: 200, BytesOut: 400, LatencyMs: 40, Upstream: "10.0.0.1:80", ClientIP: netip.MustParseAddr("2001:db8::1"), Country: "US", ASN: 7922},
		{Time: t0, App: "shop", Host: "b.example", Path: "/static/app.js", Method: "GET", Status: 304, BytesOut: 0, LatencyMs: 1, CacheStatus: "HIT", Rule: "static"},
		{Time: t0, App: "blog", Host: "c.example", Path: "/index.html", Method: "HEAD", Status: 404, BytesOut: 50, LatencyMs: 5, ClientIP: netip.MustParseAddr("198.51.100.7"), Country: "DE"},
	}
}

func run(t testing.TB, sql string, reqs []Request, l Limits) *metricsv1.QueryMetricResponse {
	t.Helper()
	q, err := Compile(sql)
	if err != nil {
		t.Fatalf("Compile(%q): %v", sql, err)
	}
	a := q.NewAggregator(l)
	for i := range reqs {
		a.Add(&reqs[i])
	}
	tab, err := q.Table([]*metricsv1.MetricResult{a.Flush("m1", 1, t0, 60)})
	if err != nil {
		t.Fatalf("Table: %v", err)
	}
	return tab
}

// text renders a table as "col|col\nv|v\n..." (other rows marked *).
func text(tab *metricsv1.QueryMetricResponse) string {
	var b strings.Builder
	b.WriteString(strings.Join(tab.Columns, "|"))
	for _, r := range tab.Rows {
		b.WriteString("\n")
		if r.Other {
			b.WriteString("*")
		}
		b.WriteString(strings.Join(r.Values, "|"))
	}
	return b.String()
}

// Exact results of each clause over the known stream.
func TestClauses(t *testing.T) {
	tests := []struct {
		name, sql, want string
	}{
		{"issue example", `SELECT host, status, count(*), avg(latency_ms), quantile(0.99, latency_ms) FROM reqs WHERE path LIKE '/api/%' GROUP BY host, status`,
			"host|status|count(*)|avg(latency_ms)|quantile(0.99, latency_ms)\na.example|200|2|15|10.075\na.example|502|1|30|30\nb.example|200|1|40|40"},
		{"uri limit", `select uri, host, count(*) from reqs group by uri, host order by count(*) desc, uri limit 2`,
			"uri|host|count(*)\n/api/cart|a.example|2\n/api/cart|b.example|1"},
		{"no group by", `select count(*), sum(bytes), sum(bytes_in), min(latency_ms), max(latency_ms), avg(status) from reqs`,
			"count(*)|sum(bytes)|sum(bytes_in)|min(latency_ms)|max(latency_ms)|avg(status)\n6|750|60|1|40|301.667"},
		{"aliases", `select app as a, count(*) as n from reqs group by a order by n desc`, "a|n\nshop|5\nblog|1"},
		{"positions", `select app, count(*) from reqs group by 1 order by 2`, "app|count(*)\nblog|1\nshop|5"},
		{"count col", `select app, count(upstream), count(country), count(client_ip), count(asn), count(http_user_agent) from reqs group by app order by app`,
			"app|count(upstream)|count(country)|count(client_ip)|count(asn)|count(http_user_agent)\nblog|0|1|1|0|0\nshop|4|4|4|3|3"},
		{"eq ne", `select count(*) from reqs where method = 'GET' and host != 'b.example'`, "count(*)\n1"},
		{"ltgt", `select count(*) from reqs where status >= 300 and status < 500`, "count(*)\n2"},
		{"flipped", `select count(*) from reqs where 300 <= status`, "count(*)\n3"},
		{"not eq <>", `select count(*) from reqs where status <> 200`, "count(*)\n3"},
		{"or not", `select count(*) from reqs where not (status = 200 or status = 304)`, "count(*)\n2"},
		{"in", `select count(*) from reqs where method in ('HEAD', 'POST')`, "count(*)\n3"},
		{"not in numbers", `select count(*) from reqs where status not in (200, 304)`, "count(*)\n2"},
		{"between", `select count(*) from reqs where latency_ms between 10 and 30`, "count(*)\n3"},
		{"not between", `select count(*) from reqs where latency_ms not between 10 and 30`, "count(*)\n3"},
		{"like underscore", `select count(*) from reqs where host like '_.example'`, "count(*)\n6"},
		{"like contains", `select count(*) from reqs where path like '%car%'`, "count(*)\n3"},
		{"like suffix", `select count(*) from reqs where path like '%.js'`, "count(*)\n1"},
		{"like exact", `select count(*) from reqs where path like '/api/pay'`, "count(*)\n1"},
		{"like escapes", `select count(*) from reqs where path like '/api/c\_rt' or host like 'x\%'`, "count(*)\n0"},
		{"not like", `select count(*) from reqs where path not like '/api/%'`, "count(*)\n2"},
		{"like on status", `select count(*) from reqs where status like '5%'`, "count(*)\n1"},
		{"like on ip", `select count(*) from reqs where client_ip like '192.0.2.%'`, "count(*)\n3"},
		{"regexp", `select count(*) from reqs where path regexp '^/api/(cart|pay)$'`, "count(*)\n4"},
		{"regexp escape", `select count(*) from reqs where path regexp '\\.js$'`, "count(*)\n1"},
		{"rlike", `select count(*) from reqs where http_user_agent rlike '^curl/'`, "count(*)\n2"},
		{"not regexp", `select count(*) from reqs where path not regexp '^/api/'`, "count(*)\n2"},
		{"is null", `select count(*) from reqs where upstream is null`, "count(*)\n2"},
		{"is not null", `select count(*) from reqs where cache_status is not null`, "count(*)\n2"},
		{"ip is null", `select count(*) from reqs where client_ip is null`, "count(*)\n1"},
		{"asn is null", `select count(*) from reqs where asn is null`, "count(*)\n3"},
		{"ip eq", `select count(*) from reqs where client_ip = '192.0.2.1'`, "count(*)\n2"},
		{"ip in", `select count(*) from reqs where client_ip in ('2001:db8::1', '198.51.100.7')`, "count(*)\n2"},
		{"header", `select http_user_agent, count(*) from reqs group by http_user_agent order by http_user_agent`,
			"http_user_agent|count(*)\n|3\nMozilla/5.0|1\ncurl/8|2"},
		{"group by ip and asn", `select client_ip, asn, count(*) from reqs where country = 'DE' group by client_ip, asn order by client_ip`,
			"client_ip|asn|count(*)\n192.0.2.1|3320|1\n192.0.2.2|3320|1\n198.51.100.7|0|1"},
		{"numeric order", `select status, count(*) from reqs group by status order by status desc`,
			"status|count(*)\n502|1\n404|1\n304|1\n200|3"},
		{"order by aggregate expr", `select host, sum(bytes_out) from reqs group by host order by sum(bytes_out) desc limit 1`,
			"host|sum(bytes_out)\nb.example|400"},
		{"table alias", `select r.host, count(*) from reqs r where r.status = 200 group by r.host order by host`,
			"host|count(*)\na.example|2\nb.example|1"},
		{"time", fmt.Sprintf(`select count(*) from reqs where time >= %d`, t0.Unix()), "count(*)\n6"},
		{"group only", `select country from reqs where country is not null group by country order by country`, "country\nDE\nFR\nUS"},
		{"empty", `select host, count(*) from reqs where status = 999 group by host`, "host|count(*)"},
		{"empty no group", `select count(*), avg(latency_ms) from reqs where status = 999`, "count(*)|avg(latency_ms)\n0|"},
		{"negative", `select count(*) from reqs where latency_ms > -1`, "count(*)\n6"},
		{"case", `SELECT Host, COUNT(*) FROM REQS WHERE Method = 'GET' GROUP BY HOST ORDER BY host`, "host|count(*)\na.example|1\nb.example|2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := text(run(t, tt.sql, stream(), Limits{})); got != tt.want {
				t.Errorf("%s\ngot:\n%s\nwant:\n%s", tt.sql, got, tt.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, sql, clause, msg string
	}{
		{"too long", "select count(*) from reqs where path = '" + strings.Repeat("a", MaxSQLBytes) + "'", "SQL", "bytes, at most 4096"},
		{"empty", "  ", "SQL", "empty"},
		{"syntax", "select from where", "SQL", "at position"},
		{"insert", "insert into reqs values (1)", "SQL", "only SELECT"},
		{"union", "select count(*) from reqs union select count(*) from reqs", "SQL", "UNION"},
		{"with", "with x as (select 1) select count(*) from reqs", "SQL", "WITH"},
		{"join", "select count(*) from reqs join other on reqs.host = other.host", "FROM", "JOIN is not supported"},
		{"two tables", "select count(*) from reqs, other", "FROM", "one table"},
		{"subquery", "select count(*) from (select * from reqs) t", "FROM", "subqueries"},
		{"unknown table", "select count(*) from logs", "FROM", `unknown table "logs"`},
		{"no from", "select 1", "FROM", "missing"},
		{"star", "select * from reqs", "SELECT", "* is not supported"},
		{"unknown column", "select foo, count(*) from reqs group by foo", "SELECT", `unknown column "foo" (columns: time, app, host`},
		{"unknown column where", "select count(*) from reqs where foo = 1", "WHERE", `unknown column "foo"`},
		{"not grouped", "select host, count(*) from reqs", "SELECT", "host is neither in GROUP BY nor inside an aggregate"},
		{"distinct", "select distinct host from reqs", "SELECT", "DISTINCT"},
		{"count distinct", "select count(distinct host) from reqs", "SELECT", "count(DISTINCT ...) is not supported"},
		{"sum text", "select sum(host) from reqs", "SELECT", "host is text"},
		{"unknown func", "select median(latency_ms) from reqs", "SELECT", "unknown function median"},
		{"other aggr", "select group_concat(host) from reqs", "SELECT", "not supported"},
		{"quantile rank", "select quantile(1.5, latency_ms) from reqs", "SELECT", "between 0 and 1"},
		{"quantile rank int", "select quantile(1, latency_ms) from reqs", "SELECT", "between 0 and 1"},
		{"quantile args", "select quantile(latency_ms) from reqs", "SELECT", "takes a rank and a column"},
		{"expression", "select status + 1, count(*) from reqs group by status", "SELECT", "unsupported expression"},
		{"too many select", "select " + strings.Repeat("count(*), ", 16) + "count(*) from reqs", "SELECT", "more than 16 expressions"},
		{"window", "select count(*) over () from reqs", "SELECT", "OVER"},
		{"group time", "select count(*) from reqs group by time", "GROUP BY", "time"},
		{"group twice", "select count(*) from reqs group by host, host", "GROUP BY", "host twice"},
		{"group expr", "select count(*) from reqs group by lower(host)", "GROUP BY", "unsupported expression"},
		{"group aggregate", "select count(*) from reqs group by count(*)", "GROUP BY", "aggregates"},
		{"group position", "select count(*) from reqs group by 1", "GROUP BY", "aggregate"},
		{"group position range", "select host from reqs group by 3", "GROUP BY", "not a SELECT position"},
		{"too many group", "select count(*) from reqs group by app, host, path, method, status, bytes_in, bytes_out, upstream, country", "GROUP BY", "more than 8 columns"},
		{"too many group before parsing", "select count(*) from reqs group by a, b, c, d, e, f, g, h, i (", "GROUP BY", "more than 8 columns"},
		{"too many select before parsing", "select " + strings.Repeat("f(a, b), ", 16) + "x from", "SELECT", "more than 16"},
		{"commas in functions", "select host, quantile(0.5, latency_ms), quantile(0.9, latency_ms), " + strings.Repeat("count(*), ", 12) + "count(*) from reqs group by path", "SELECT", "host is neither"},
		{"rollup", "select count(*) from reqs group by host with rollup", "GROUP BY", "ROLLUP"},
		{"having", "select host, count(*) from reqs group by host having count(*) > 1", "HAVING", "not supported"},
		{"where aggregate", "select count(*) from reqs where count(*) > 1", "WHERE", "aggregates"},
		{"where text vs number", "select count(*) from reqs where host = 1", "WHERE", "host is text"},
		{"where number vs text", "select count(*) from reqs where status = 'x'", "WHERE", "status is a number"},
		{"where null", "select count(*) from reqs where upstream = null", "WHERE", "use IS NULL"},
		{"where col col", "select count(*) from reqs where host = path", "WHERE", "not with a column"},
		{"where is null required", "select count(*) from reqs where host is null", "WHERE", "host is never null"},
		{"where is true", "select count(*) from reqs where upstream is true", "WHERE", "only IS NULL"},
		{"where bare", "select count(*) from reqs where host", "WHERE", "is not a condition"},
		{"where xor", "select count(*) from reqs where status = 1 xor status = 2", "WHERE", "XOR"},
		{"where subquery", "select count(*) from reqs where host in (select host from reqs)", "WHERE", "IN needs a list"},
		{"where bad regexp", "select count(*) from reqs where path regexp '('", "WHERE", "missing closing )"},
		{"where huge regexp", "select count(*) from reqs where path regexp 'a{1000}{1000}'", "WHERE", "regexp"},
		{"where between text", "select count(*) from reqs where host between 'a' and 'b'", "WHERE", "BETWEEN needs a number column"},
		{"where like number", "select count(*) from reqs where path like 5", "WHERE", "quoted string"},
		{"where bad ip", "select count(*) from reqs where client_ip = 'x'", "WHERE", "not an IP address"},
		{"where function", "select count(*) from reqs where lower(host) = 'a'", "WHERE", "needs a column"},
		{"where null safe", "select count(*) from reqs where host <=> 'a'", "WHERE", "<=>"},
		{"where escape", "select count(*) from reqs where host like 'a' escape '!'", "WHERE", "ESCAPE"},
		{"order unknown", "select host, count(*) from reqs group by host order by path", "ORDER BY", "path is not a column of the SELECT list"},
		{"order aggregate missing", "select host, count(*) from reqs group by host order by sum(bytes)", "ORDER BY", "not in the SELECT list"},
		{"order position", "select host, count(*) from reqs group by host order by 3", "ORDER BY", "not a SELECT position"},
		{"order expr", "select host, count(*) from reqs group by host order by length(host)", "ORDER BY", "unsupported"},
		{"limit zero", "select count(*) from reqs limit 0", "LIMIT", "from 1 to 1000"},
		{"limit big", "select count(*) from reqs limit 1001", "LIMIT", "from 1 to 1000"},
		{"offset", "select count(*) from reqs limit 10 offset 5", "LIMIT", "OFFSET"},
		{"header bad", "select count(*) from reqs where http_ = 'a'", "WHERE", "unknown column"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.sql)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Compile(%q) = %v, want an *Error", tt.sql, err)
			}
			if e.Clause != tt.clause || !strings.Contains(e.Msg, tt.msg) || !strings.HasPrefix(err.Error(), tt.clause+": ") {
				t.Errorf("Compile(%q) = %q, want clause %s and %q", tt.sql, err, tt.clause, tt.msg)
			}
		})
	}
}

// Uses names the columns a query reads in any clause, so a node looks up
// costly ones (country, asn) only for queries that need them.
func TestUses(t *testing.T) {
	q, err := Compile("SELECT host, count(*) FROM reqs WHERE country = 'DE' GROUP BY host")
	if err != nil {
		t.Fatal(err)
	}
	for col, want := range map[string]bool{"host": true, "country": true, "asn": false, "path": false, "HOST": true} {
		if got := q.Uses(col); got != want {
			t.Errorf("Uses(%q) = %v, want %v", col, got, want)
		}
	}
}
