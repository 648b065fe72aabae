package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Lines as the scripts print them.
const (
	proxyLine = "RESULT http-proxy d=3s c=64 t=2 rounds=1 body=1024B cpus=2 | upstream rps=51234 p99=1.2ms | nginx-w1 rps=20100 p99=4.1ms | sut rps=17000 p99=9.0ms | sut/nginx-w1 rps=0.85 p99=2.20 | sut/nginx-wauto rps=0.61 p99=1.90"
	cacheLine = "RESULT cache-hit d=2s c=64 t=2 rounds=1 procs=1 cpus=2 | 1k node-mem rps=40000 p99=2ms | 1k node-mem/nginx-w1 rps=1.70 p99=0.80 | 100k node-mem/varnish rps=1.10 p99=0.95"
	dnsLine   = "RESULT dns d=2s rounds=1 dnsperf='-c 10 -T 2' cpus=2 | knot qps=100000 avg_lat=0.1ms @5000qps p50=0.05ms p99=0.2ms | sut/knot qps=1.03 p99@5000=0.90 rcodes_match=yes"
	wafLine   = "RESULT waf d=2s c=4 t=2 rounds=1 pl=1 cpus=2 | get node-waf rps=9000 p99=3ms cpu=50us | get node-waf/nginx-modsec rps=2.10 p99=0.50 cpu=2.30 | get node on/off rps=0.9012"
	matrix    = "RESULT proxy-matrix d=2s warmup=1s rounds=1 runs=1 t=2 procs=1 sut_args='-engine evloop' cpus=2 load='10.38 9.05 4.49' | 1k c64 ka idle sut rps=12108 p50=6.1ms p99=12.6ms p999=14.0ms cpu=49.88us sc=17.72 eagain=1.35 errors=0 | 1k c64 ka idle sut/nginx-w1 rps=0.70 p99=1.75 cpu=1.63 sc=1.79 | 100k c1000 close hog sut/haproxy-t1 rps=1.17 p99=0.86 cpu=0.78 sc=1.02"
	metrics   = "RESULT metrics-cost cpu=+1.2% wall=+0.4% rounds=2 (median per-round ratios to strata; goal: under 3%) | metrics on/off cpu=1.012 wall=1.004"
)

func TestParseResult(t *testing.T) {
	r, err := ParseResult(dnsLine)
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "dns" || !slices.Equal(r.Params, []string{"d=2s", "rounds=1", "dnsperf='-c 10 -T 2'", "cpus=2"}) {
		t.Fatalf("head: %q %q", r.Name, r.Params)
	}
	if len(r.Segments) != 2 || r.Segments[0].IsRatio() || !r.Segments[1].IsRatio() {
		t.Fatalf("segments: %+v", r.Segments)
	}
	if s := r.Segments[0]; s.Label != "knot" || !slices.Equal(s.Figures, []string{"qps=100000", "avg_lat=0.1ms", "@5000qps", "p50=0.05ms", "p99=0.2ms"}) {
		t.Fatalf("target segment: %+v", s)
	}
	if s := r.Segments[1]; s.Label != "sut/knot" || !slices.Equal(s.Figures, []string{"qps=1.03", "p99@5000=0.90", "rcodes_match=yes"}) {
		t.Fatalf("ratio segment: %+v", s)
	}
	w, err := ParseResult(wafLine)
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, s := range w.Segments {
		if s.IsRatio() {
			labels = append(labels, s.Label)
		}
	}
	if !slices.Equal(labels, []string{"get node-waf/nginx-modsec", "get node on/off"}) {
		t.Fatalf("waf ratio labels %q", labels)
	}
	// The proxy matrix: quoted settings with spaces, cells named by several words.
	m, err := ParseResult(matrix)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(m.Params, "sut_args='-engine evloop'") || !slices.Contains(m.Params, "load='10.38 9.05 4.49'") {
		t.Fatalf("matrix params %q", m.Params)
	}
	if len(m.Segments) != 3 || m.Segments[0].IsRatio() || m.Segments[0].Label != "1k c64 ka idle sut" ||
		m.Segments[2].Label != "100k c1000 close hog sut/haproxy-t1" || !slices.Equal(m.Segments[2].Figures, []string{"rps=1.17", "p99=0.86", "cpu=0.78", "sc=1.02"}) {
		t.Fatalf("matrix segments %+v", m.Segments)
	}
	for _, bad := range []string{"", "RESULT", "ok 1.2s", "RESULT x | rps=1"} {
		if _, err := ParseResult(bad); err == nil {
			t.Errorf("ParseResult(%q): no error", bad)
		}
	}
}

func writeLog(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name+".log")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTable: logs in, one row per ratio, failures named, and the section
// replaced in the document without touching the rest.
func TestTable(t *testing.T) {
	dir := t.TempDir()
	var runs []Run
	for _, l := range []struct{ name, content string }{
		{"proxy", "building...\nRESULT old | a/b rps=1\n" + proxyLine + "\n\n"},
		{"cache", cacheLine + "\n"},
		{"metrics", "== proxy\n" + metrics + "\n"},
		{"stream", "stream: iperf3 not found\n"},
	} {
		r, err := ReadLog(writeLog(t, dir, l.name, l.content))
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	if runs[0].Result == nil || runs[0].Result.Name != "http-proxy" {
		t.Fatalf("proxy: the last RESULT line not read: %+v", runs[0])
	}
	if runs[3].Result != nil || !strings.Contains(runs[3].Err, "iperf3 not found") {
		t.Fatalf("stream: %+v", runs[3])
	}
	m := Machine{Date: "2026-12-07 23:59 UTC", Commit: "abc1234", CPU: "Test CPU", Cores: 2, Mode: "quick"}
	table := Table(m, runs)
	for _, want := range []string{
		"Run 2026-12-07 23:59 UTC, commit abc1234, Test CPU, 2 cores, quick mode",
		"| proxy | sut/nginx-w1 | rps=0.85 p99=2.20 | d=3s c=64 t=2 rounds=1 body=1024B cpus=2 |",
		"| proxy | sut/nginx-wauto | rps=0.61 p99=1.90 |",
		"| cache | 1k node-mem/nginx-w1 | rps=1.70 p99=0.80 |",
		"| cache | 100k node-mem/varnish | rps=1.10 p99=0.95 |",
		"| metrics | metrics on/off | cpu=1.012 wall=1.004 |",
		"| stream | - | failed: no RESULT line; last line: stream: iperf3 not found | |",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "| proxy | upstream") || strings.Contains(table, "a/b") {
		t.Errorf("table lists a target's figures or an earlier RESULT line:\n%s", table)
	}
	doc := "# Benchmarks\n\nintro\n"
	once, err := Replace(doc, table)
	if err != nil || !strings.HasPrefix(once, doc) || !strings.Contains(once, table) {
		t.Fatalf("append: %v\n%s", err, once)
	}
	again, err := Replace(once+"\n## After\n", strings.Replace(table, "abc1234", "def5678", 1))
	if err != nil || strings.Contains(again, "abc1234") || !strings.Contains(again, "def5678") || !strings.HasSuffix(again, "\n## After\n") || strings.Count(again, beginMark) != 1 {
		t.Fatalf("replace: %v\n%s", err, again)
	}
	if _, err := Replace(endMark+beginMark, table); err == nil {
		t.Fatal("markers out of order: no error")
	}
}
