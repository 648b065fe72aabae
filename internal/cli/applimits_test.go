package cli_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// TestAppLimitFlags: app create/update set App.limits from flags, flags
// not given keep them, a bad value names the flag; --challenge flags build
// the rule's challenge action.
func TestAppLimitFlags(t *testing.T) {
	s := newCLI(t, startAPI(t))
	id := s.ok("app", "create", "--name", "up", "--domain", "up.example.com", "--max-body", "10MiB", "--max-header", "16KiB",
		"--max-conns-per-ip", "100", "--tls-handshake-rate", "20/s")
	get := func() *configv1.App {
		res := &configv1.GetAppResponse{}
		s.json(res, "app", "get", id)
		return res.GetApp()
	}
	want := &configv1.AppLimits{MaxRequestBodyBytes: 10 << 20, MaxRequestHeaderBytes: 16 << 10, MaxConnsPerIp: 100, TlsHandshakesPerSecond: 20}
	if got := get().GetLimits(); !proto.Equal(got, want) {
		t.Fatalf("after create: %v, want %v", got, want)
	}
	s.ok("app", "update", id, "--label", "team=web")
	if got := get().GetLimits(); !proto.Equal(got, want) {
		t.Fatalf("an unrelated update changed the limits: %v", got)
	}
	s.ok("app", "update", id, "--max-body", "0", "--tls-handshake-burst", "40")
	want.MaxRequestBodyBytes, want.TlsHandshakeBurst = 0, 40
	if got := get().GetLimits(); !proto.Equal(got, want) {
		t.Fatalf("after update: %v, want %v", got, want)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"app", "update", id, "--max-header", "100"}, "--max-header: 100 is outside"},
		{[]string{"app", "update", id, "--max-body", "ten"}, `--max-body "ten": want a size`},
		{[]string{"app", "update", id, "--tls-handshake-rate", "fast"}, "--tls-handshake-rate"},
		{[]string{"rule", "create", "--app", id, "--name", "gate", "--challenge", "--challenge-difficulty", "40"}, "--challenge-difficulty: 40 is outside 8-24"},
	} {
		_, errs, code := s.run(tt.args...)
		if code == 0 || !strings.Contains(errs, tt.want) {
			t.Errorf("strata %s: exit %d, stderr lacks %q:\n%s", strings.Join(tt.args, " "), code, tt.want, errs)
		}
	}
	s.ok("rule", "create", "--app", id, "--name", "gate", "--when", `PathPrefix("/login")`, "--challenge", "--challenge-difficulty", "18", "--challenge-clearance", "30m")
	ch := get().GetRules()[0].GetActions()[0].GetChallenge()
	if ch.GetDifficulty() != 18 || ch.GetClearanceSeconds() != 1800 {
		t.Fatalf("challenge action %v", ch)
	}
	if out := s.ok("rule", "list", "--app", id); !strings.Contains(out, "challenge 18 bits, clearance 30m0s") {
		t.Errorf("rule list does not show the challenge:\n%s", out)
	}
}
