// Package crsftw runs the CRS regression tests (the go-ftw YAML files that ship with the
// CRS release, read from the module cache and never copied into the repository) against
// a target: Coraza directly or a real node. It reads the subset of the go-ftw format
// the CRS v4 tests use: per stage an input (method, uri, version, headers, data, or a
// base64 encoded_request) and an output (log.expect_ids, log.no_expect_ids,
// log.match_regex, log.no_match_regex); status-only expectations are about the web
// server, not the WAF, and count as skipped.
package crsftw

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Module is the CRS module whose tests are run; its version is the one pkg/go.mod pins.
const Module = "github.com/corazawaf/coraza-coreruleset/v4"

// TestsDir finds the tests folder of Module in the module cache (via `go list`, run in
// the module of the calling package).
func TestsDir() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", Module).Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w", Module, err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "tests")
	if _, err := os.Stat(dir); err != nil {
		return "", err
	}
	return dir, nil
}

// Request is one HTTP request of a test stage. Raw, when set, is the exact bytes to send
// (encoded_request); the other fields are then parsed from it.
type Request struct {
	Method, URI, Version string
	Headers              [][2]string
	Body                 []byte
	Raw                  []byte
}

// Header returns the first value of the named header (case-insensitive).
func (r *Request) Header(name string) (string, bool) {
	for _, h := range r.Headers {
		if strings.EqualFold(h[0], name) {
			return h[1], true
		}
	}
	return "", false
}

// Expect is what a stage's output asks of the WAF's log.
type Expect struct {
	IDs, NoIDs               []int
	MatchRegex, NoMatchRegex string
}

// Checks tells whether the stage asks anything of the WAF (else it is skipped).
func (e Expect) Checks() bool {
	return len(e.IDs)+len(e.NoIDs) > 0 || e.MatchRegex != "" || e.NoMatchRegex != ""
}

// Case is one stage of one test.
type Case struct {
	Family string // e.g. REQUEST-942-APPLICATION-ATTACK-SQLI
	RuleID int
	TestID int
	Stage  int
	Desc   string
	Req    Request
	Want   Expect
}

// Name is the go-ftw name of the case: <rule>-<test> (and -<stage> past the first).
func (c *Case) Name() string {
	n := fmt.Sprintf("%d-%d", c.RuleID, c.TestID)
	if c.Stage > 0 {
		n += fmt.Sprintf("-%d", c.Stage+1)
	}
	return n
}

// Limits on what Load accepts: the CRS files are far below them.
const (
	maxFileBytes = 1 << 20
	maxCases     = 20000
)

type fileYAML struct {
	RuleID int `yaml:"rule_id"`
	Tests  []struct {
		TestID int    `yaml:"test_id"`
		Desc   string `yaml:"desc"`
		Stages []struct {
			Input struct {
				Method         string  `yaml:"method"`
				URI            *string `yaml:"uri"`
				Version        string  `yaml:"version"`
				Headers        headers `yaml:"headers"`
				Data           string  `yaml:"data"`
				EncodedRequest string  `yaml:"encoded_request"`
				Autocomplete   *bool   `yaml:"autocomplete_headers"`
			} `yaml:"input"`
			Output struct {
				Log struct {
					ExpectIDs    []int  `yaml:"expect_ids"`
					NoExpectIDs  []int  `yaml:"no_expect_ids"`
					MatchRegex   string `yaml:"match_regex"`
					NoMatchRegex string `yaml:"no_match_regex"`
				} `yaml:"log"`
			} `yaml:"output"`
		} `yaml:"stages"`
	} `yaml:"tests"`
}

// headers keeps the order of the YAML mapping (a Go map would lose it).
type headers [][2]string

func (h *headers) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: headers: want a mapping", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		*h = append(*h, [2]string{n.Content[i].Value, n.Content[i+1].Value})
	}
	return nil
}

// Parse reads one test file of the given family.
func Parse(family string, data []byte) ([]Case, error) {
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("test file: %d bytes, limit %d", len(data), maxFileBytes)
	}
	var f fileYAML
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	var out []Case
	for ti, t := range f.Tests {
		for si, s := range t.Stages {
			in := s.Input
			c := Case{Family: family, RuleID: f.RuleID, TestID: t.TestID, Stage: si, Desc: t.Desc}
			if c.TestID == 0 {
				c.TestID = ti + 1
			}
			c.Want = Expect{IDs: s.Output.Log.ExpectIDs, NoIDs: s.Output.Log.NoExpectIDs,
				MatchRegex: s.Output.Log.MatchRegex, NoMatchRegex: s.Output.Log.NoMatchRegex}
			for _, re := range []string{c.Want.MatchRegex, c.Want.NoMatchRegex} {
				if _, err := regexp.Compile(re); err != nil {
					return nil, fmt.Errorf("tests[%d].stages[%d].output.log: %w", ti, si, err)
				}
			}
			if in.EncodedRequest != "" {
				raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(in.EncodedRequest), ""))
				if err != nil {
					return nil, fmt.Errorf("tests[%d].stages[%d].input.encoded_request: %w", ti, si, err)
				}
				req, err := ParseRaw(raw)
				if err != nil {
					return nil, fmt.Errorf("tests[%d].stages[%d].input.encoded_request: %w", ti, si, err)
				}
				c.Req = req
			} else {
				c.Req = Request{Method: in.Method, URI: "/", Version: in.Version, Headers: in.Headers, Body: []byte(in.Data)}
				if in.URI != nil {
					c.Req.URI = *in.URI
				}
				if c.Req.Method == "" {
					c.Req.Method = "GET"
				}
				if c.Req.Version == "" {
					c.Req.Version = "HTTP/1.1"
				}
				if len(c.Req.Body) > 0 && (in.Autocomplete == nil || *in.Autocomplete) {
					if _, ok := c.Req.Header("Content-Length"); !ok {
						c.Req.Headers = append(c.Req.Headers, [2]string{"Content-Length", strconv.Itoa(len(c.Req.Body))})
					}
				}
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// ParseRaw splits raw request bytes into request line, headers and body, keeping
// whatever the bytes say (a WAF test sends malformed requests on purpose).
func ParseRaw(raw []byte) (Request, error) {
	r := Request{Raw: raw}
	br := bufio.NewReader(bytes.NewReader(raw))
	line, err := br.ReadString('\n')
	if err != nil && line == "" {
		return r, errors.New("no request line")
	}
	parts := strings.Fields(strings.TrimRight(line, "\r\n"))
	switch len(parts) {
	case 0:
		return r, errors.New("empty request line")
	case 1:
		r.Method = parts[0]
	case 2:
		r.Method, r.URI = parts[0], parts[1]
	default:
		r.Method, r.URI, r.Version = parts[0], parts[1], parts[len(parts)-1]
	}
	for {
		l, err := br.ReadString('\n')
		l = strings.TrimRight(l, "\r\n")
		if l == "" {
			break
		}
		if k, v, ok := strings.Cut(l, ":"); ok {
			r.Headers = append(r.Headers, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
		}
		if err != nil {
			break
		}
	}
	rest, _ := readAll(br)
	r.Body = rest
	return r, nil
}

func readAll(br *bufio.Reader) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(br)
	return b.Bytes(), err
}

// Load reads every test file below dir (one folder per rule family).
func Load(dir string) ([]Case, error) {
	var out []Case
	err := fs.WalkDir(os.DirFS(dir), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return nil
		}
		data, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			return err
		}
		cs, err := Parse(path.Dir(p), data)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		out = append(out, cs...)
		if len(out) > maxCases {
			return fmt.Errorf("more than %d test stages", maxCases)
		}
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.RuleID != b.RuleID {
			return a.RuleID < b.RuleID
		}
		if a.TestID != b.TestID {
			return a.TestID < b.TestID
		}
		return a.Stage < b.Stage
	})
	return out, err
}

// Outcome is what a target observed for one request: the ids of the rules that
// matched and their log lines (ModSecurity style, with [id "..."] and the matched
// variable), and the HTTP status when there was one.
type Outcome struct {
	IDs    []int
	Log    []string
	Status int
	// Detected are the rules that matched with a message (a finding, not CRS's
	// bookkeeping), in the order they ran.
	Detected []int
}

// Check judges an outcome against the case; "" means passed.
func (c *Case) Check(o Outcome) string {
	var why []string
	for _, id := range c.Want.IDs {
		if !slices.Contains(o.IDs, id) {
			why = append(why, fmt.Sprintf("rule %d did not match", id))
		}
	}
	for _, id := range c.Want.NoIDs {
		if slices.Contains(o.IDs, id) {
			why = append(why, fmt.Sprintf("rule %d matched", id))
		}
	}
	log := strings.Join(o.Log, "\n")
	if c.Want.MatchRegex != "" && !regexp.MustCompile(c.Want.MatchRegex).MatchString(log) {
		why = append(why, fmt.Sprintf("log does not match %q", c.Want.MatchRegex))
	}
	if c.Want.NoMatchRegex != "" && regexp.MustCompile(c.Want.NoMatchRegex).MatchString(log) {
		why = append(why, fmt.Sprintf("log matches %q", c.Want.NoMatchRegex))
	}
	return strings.Join(why, "; ")
}

var (
	ruleIDRe = regexp.MustCompile(`"id:(\d+)`)
	plTagRe  = regexp.MustCompile(`tag:'paranoia-level/(\d)'`)
)

// ParanoiaLevels maps each CRS rule id to its paranoia level (its
// tag:'paranoia-level/N'; rules without the tag are level 1), read from the .conf
// files below dir of fsys.
func ParanoiaLevels(fsys fs.FS, dir string) (map[int]int, error) {
	files, err := fs.Glob(fsys, path.Join(dir, "*.conf"))
	if err != nil {
		return nil, err
	}
	out := map[int]int{}
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		for _, rule := range strings.Split(string(b), "\nSecRule ") {
			m := ruleIDRe.FindStringSubmatch(rule)
			if m == nil {
				continue
			}
			id, _ := strconv.Atoi(m[1])
			out[id] = 1
			if p := plTagRe.FindStringSubmatch(rule); p != nil {
				out[id], _ = strconv.Atoi(p[1])
			}
		}
	}
	return out, nil
}

// AbovePL counts the failed results whose every missing rule is of a paranoia level
// above pl (so cannot run at pl), per family.
func AbovePL(res []Result, levels map[int]int, pl int) map[string]int {
	out := map[string]int{}
	for _, r := range res {
		if r.Case == nil || r.Skipped || r.Fail == "" || len(r.Case.Want.IDs) == 0 {
			continue
		}
		above := true
		for _, id := range r.Case.Want.IDs {
			if levels[id] <= pl && !slices.Contains(r.Outcome.IDs, id) {
				above = false
			}
		}
		if above && !strings.Contains(r.Fail, "matched;") && !strings.HasSuffix(r.Fail, " matched") {
			out[r.Case.Family]++
			out["total"]++
		}
	}
	return out
}
