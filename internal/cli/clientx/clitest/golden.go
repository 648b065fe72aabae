package clitest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// update rewrites golden files instead of comparing with them:
// go test ./internal/cli/... -run Golden -update
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// What changes from run to run in -o json output: ids (prefix + 16 base32
// characters), times, secrets and PEM blocks.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`"(secret|request_id|user_jwt|token)": "[^"]*"`), `"$1": "SECRET"`},
	{regexp.MustCompile(`"(fingerprint_sha256|serial|issuer)": "[^"]*"`), `"$1": "CERT"`},
	{regexp.MustCompile(`"password_hash": "[^"]*"`), `"password_hash": "ARGON2ID"`}, // random salt
	{regexp.MustCompile(`-----BEGIN ([A-Z ]+)-----[^"]*-----END [A-Z ]+-----\\n`), "<PEM $1>"},
	{regexp.MustCompile(`\b([a-z]+)_[0-9a-z]{16}(\.[A-Za-z0-9_-]+)?\b`), "${1}_ID$2"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`), "TIME"},
	{regexp.MustCompile(`"(\w*_seconds)": [0-9.e+-]+`), `"$1": "SECONDS"`},
	{regexp.MustCompile(`": "\d+(\.\d+)?s"`), `": "DURATION"`}, // google.protobuf.Duration
	{regexp.MustCompile(`127\.0\.0\.1:\d+`), "127.0.0.1:PORT"}, // servers of the test
}

// Normalize makes -o json output comparable across runs: it is re-indented
// with sorted keys (protojson varies its whitespace on purpose) and the
// volatile values above are replaced by placeholders.
func Normalize(t testing.TB, out []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	compactJSONStrings(v)
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range volatile {
		b = r.re.ReplaceAll(b, []byte(r.with))
	}
	return append(b, '\n')
}

// Golden compares the normalized -o json output out with
// testdata/json/<name>.json (rewritten with -update).
func Golden(t testing.TB, name string, out []byte) {
	t.Helper()
	got := Normalize(t, out)
	path := filepath.Join("testdata", "json", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: -o json differs from %s (rerun with -update if the change is intended)\n--- got\n%s--- want\n%s", name, path, got, want)
	}
}

// Step is one command line of a golden scenario; its -o json output is
// compared with testdata/json/<Name>.json.
type Step struct {
	Name string
	Args []string
}

// GoldenSteps runs steps in order with -o json under cmds (built anew for
// each step) and compares each output with its golden file.
func (e *Env) GoldenSteps(t *testing.T, cmds func() []*cobra.Command, steps []Step) {
	t.Helper()
	was := e.AsJSON
	e.AsJSON = true
	defer func() { e.AsJSON = was }()
	for _, st := range steps {
		out, err := e.Run(cmds(), st.Args...)
		if err != nil {
			t.Fatalf("strata %s -o json: %v", strings.Join(st.Args, " "), err)
		}
		Golden(t, st.Name, []byte(out))
	}
}

// compactJSONStrings rewrites string fields named *_json (JSON the server
// made with protojson, whose whitespace varies on purpose) in compact form.
func compactJSONStrings(v any) {
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			compactJSONStrings(e)
		}
	case map[string]any:
		for k, e := range v {
			if s, ok := e.(string); ok && strings.HasSuffix(k, "_json") {
				var buf bytes.Buffer
				if json.Compact(&buf, []byte(s)) == nil {
					v[k] = buf.String()
				}
				continue
			}
			compactJSONStrings(e)
		}
	}
}
