package cli_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nats-io/jwt/v2"

	"github.com/strata-edge/strata/internal/cli"
	"github.com/strata-edge/strata/pkg/natsauth"
)

// TestNATSConfig: strata nats-config writes the hub's include file for the
// operator of DIR/nats-auth and owner-only control credentials; a second
// run keeps the identities (the hub keeps trusting the same operator).
func TestNATSConfig(t *testing.T) {
	dir := t.TempDir()
	s := strata{t: t, env: map[string]string{}}
	s.ok("nats-config", "--data", dir)
	a, err := natsauth.LoadOrCreate(filepath.Join(dir, "nats-auth"))
	if err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile(filepath.Join(dir, "hub-auth.conf"))
	if err != nil {
		t.Fatal(err)
	}
	checkHubConf(t, a, conf)
	fi, err := os.Stat(filepath.Join(dir, "control.creds"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control.creds: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	out := filepath.Join(dir, "elsewhere.conf")
	s.ok("nats-config", "--data", dir, "--out", out)
	again, _ := os.ReadFile(out)
	checkHubConf(t, a, again)
}

// checkHubConf requires conf to trust a's operator, with its system account
// and its STRATA account preloaded.
func checkHubConf(t *testing.T, a *natsauth.Authority, conf []byte) {
	t.Helper()
	m := regexp.MustCompile(`operator: "([^"]+)"`).FindSubmatch(conf)
	if m == nil {
		t.Fatalf("no operator line:\n%s", conf)
	}
	if oc, err := jwt.DecodeOperatorClaims(string(m[1])); err != nil || oc.Subject != a.OperatorPublicKey() {
		t.Errorf("operator JWT: %v, subject %v; want %s", err, oc, a.OperatorPublicKey())
	}
	for _, want := range []string{`system_account: "` + a.SystemAccountPublicKey() + `"`, "  " + a.AccountPublicKey() + ": \"", "resolver: MEMORY"} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("hub config lacks %q:\n%s", want, conf)
		}
	}
}

func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
	defer srv.Close()
	s := strata{t: t, env: map[string]string{}}
	s.ok("healthcheck", srv.URL)
	status = http.StatusServiceUnavailable
	if _, errs, code := s.run("healthcheck", srv.URL); code == 0 || !strings.Contains(errs, "503") {
		t.Errorf("healthcheck of a 503: exit %d, stderr %q; want a failure naming the status", code, errs)
	}
}

func TestParseCommand(t *testing.T) {
	if _, err := cli.ParseCommand([]string{"control", "--nats", "nats://n:4222", "--replicas", "3"}); err != nil {
		t.Errorf("a valid control command: %v", err)
	}
	for _, bad := range [][]string{
		{"control", "--replicas", "3"},                    // --nats is required
		{"control", "--nats", "n", "--replicas", "three"}, // not a number
		{"node", "--join-tokn", "x"},                      // unknown flag
		{"healthcheck"},                                   // URL missing
	} {
		if _, err := cli.ParseCommand(bad); err == nil {
			t.Errorf("ParseCommand(%q) passed; want an error", bad)
		}
	}
}
