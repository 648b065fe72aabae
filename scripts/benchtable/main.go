// Command benchtable writes the side-by-side table of docs/benchmarks.md
// from the outputs of the benchmark scripts (scripts/bench-all.sh runs them).
//
// Each script prints, as its last RESULT line,
//
//	RESULT <name> [k=v ...] | <label> k=v ... | <label> k=v ...
//
// where a segment whose label names a pair ("sut/nginx-w1", "1k
// node-mem/varnish", "node on/off") is a ratio, and other segments are the
// figures of one target. The table lists every ratio segment of every
// script, with the date, commit and machine of the run.
//
// Usage: go run ./scripts/benchtable -doc docs/benchmarks.md [-mode quick] LOG...
// where each LOG is named <script>.log.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Markers of the generated section in the document.
const (
	beginMark = "<!-- bench-all:begin (scripts/bench-all.sh writes this section) -->"
	endMark   = "<!-- bench-all:end -->"
)

// Result is one parsed RESULT line.
type Result struct {
	Name     string
	Params   []string // k=v settings after the name
	Segments []Segment
}

// Segment is one "|"-separated part after the head.
type Segment struct {
	Label   string   // the words before the first k=v
	Figures []string // the rest, as printed
}

// IsRatio reports whether the segment compares two targets.
func (s Segment) IsRatio() bool { return strings.Contains(s.Label, "/") }

// ParseResult parses a RESULT line.
func ParseResult(line string) (Result, error) {
	parts := strings.Split(strings.TrimSpace(line), " | ")
	head := fields(parts[0])
	if len(head) < 2 || head[0] != "RESULT" {
		return Result{}, fmt.Errorf("not a RESULT line: %q", truncate(line, 80))
	}
	r := Result{Name: head[1], Params: head[2:]}
	for _, p := range parts[1:] {
		var s Segment
		var label []string
		for _, f := range fields(p) {
			if len(s.Figures) == 0 && !strings.Contains(f, "=") {
				label = append(label, f)
				continue
			}
			s.Figures = append(s.Figures, f)
		}
		s.Label = strings.Join(label, " ")
		if s.Label == "" {
			return Result{}, fmt.Errorf("%s: segment without a label: %q", r.Name, truncate(p, 80))
		}
		r.Segments = append(r.Segments, s)
	}
	return r, nil
}

// fields splits on spaces, keeping 'quoted parts' (dnsperf='-c 10 -T 2') whole.
func fields(s string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, c := range s {
		switch {
		case c == '\'':
			quoted = !quoted
			cur.WriteRune(c)
		case c == ' ' && !quoted:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(c)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// Run is what one script's log gave.
type Run struct {
	Script string
	Result *Result // nil: no RESULT line
	Err    string  // why there is no result: the log's last line
}

// ReadLog reads a script's log: its last RESULT line, or its last line.
func ReadLog(path string) (Run, error) {
	f, err := os.Open(path)
	if err != nil {
		return Run{}, err
	}
	defer f.Close()
	run := Run{Script: strings.TrimSuffix(filepath.Base(path), ".log")}
	var result, last string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			last = l
			if strings.HasPrefix(l, "RESULT ") {
				result = l
			}
		}
	}
	if err := sc.Err(); err != nil {
		return Run{}, fmt.Errorf("%s: %w", path, err)
	}
	if result == "" {
		run.Err = "no RESULT line; last line: " + truncate(last, 120)
		return run, nil
	}
	r, err := ParseResult(result)
	if err != nil {
		run.Err = err.Error()
		return run, nil
	}
	run.Result = &r
	return run, nil
}

// Machine describes where the run happened.
type Machine struct {
	Date, Commit, CPU, Mode string
	Cores                   int
}

// Table renders the section between the markers.
func Table(m Machine, runs []Run) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\nRun %s, commit %s, %s, %d cores, %s mode (`go tool task bench-all`).\n\n",
		beginMark, m.Date, m.Commit, m.CPU, m.Cores, m.Mode)
	b.WriteString("| script | compared | ratios | settings |\n|---|---|---|---|\n")
	for _, r := range runs {
		if r.Result == nil {
			fmt.Fprintf(&b, "| %s | - | failed: %s | |\n", r.Script, cell(r.Err))
			continue
		}
		settings := cell(strings.Join(r.Result.Params, " "))
		n := 0
		for _, s := range r.Result.Segments {
			if s.IsRatio() {
				fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.Script, cell(s.Label), cell(strings.Join(s.Figures, " ")), settings)
				n++
			}
		}
		if n == 0 {
			fmt.Fprintf(&b, "| %s | - | no ratio in its RESULT line | %s |\n", r.Script, settings)
		}
	}
	b.WriteString("\n" + endMark)
	return b.String()
}

// cell escapes what would break a table row.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// Replace puts section in doc between the markers, or appends it.
func Replace(doc, section string) (string, error) {
	i, j := strings.Index(doc, beginMark), strings.Index(doc, endMark)
	switch {
	case i < 0 && j < 0:
		return strings.TrimRight(doc, "\n") + "\n\n" + section + "\n", nil
	case i < 0 || j < i:
		return "", errors.New("benchtable: the document's bench-all markers are out of order or one is missing")
	}
	return doc[:i] + section + doc[j+len(endMark):], nil
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		c += " (with uncommitted changes)"
	}
	return c
}

func main() {
	doc := flag.String("doc", "docs/benchmarks.md", "document to update")
	mode := flag.String("mode", "full", "how the scripts ran (full or quick)")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: benchtable -doc FILE [-mode quick] LOG...")
		os.Exit(2)
	}
	var runs []Run
	for _, p := range flag.Args() {
		r, err := ReadLog(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchtable:", err)
			os.Exit(1)
		}
		runs = append(runs, r)
	}
	m := Machine{Date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), Commit: commit(), CPU: cpuModel(), Cores: runtime.NumCPU(), Mode: *mode}
	old, err := os.ReadFile(*doc)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	out, err := Replace(string(old), Table(m, runs))
	if err == nil {
		err = os.WriteFile(*doc, []byte(out), 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	fmt.Print(Table(m, runs), "\n")
}
