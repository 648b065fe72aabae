package certcmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAcmeAccountCommands(t *testing.T) {
	f := newFactory(t, nil)
	const dir = "https://acme.zerossl.example/v2/DV90"
	const hmac = "c2VjcmV0LWhtYWMta2V5LWZvci10aGlzLWRpcmVjdG9yeS0xMjM0NTY3ODkw"
	hmacFile := filepath.Join(t.TempDir(), "hmac")
	if err := os.WriteFile(hmacFile, []byte(hmac+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := f.run(t, "cert", "acme-account", "set", "--directory", dir, "--eab-kid", "kid-1", "--eab-hmac-file", hmacFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "kid-1") || !strings.Contains(out, "set (stored encrypted)") || strings.Contains(out, hmac) {
		t.Fatalf("set output:\n%s", out)
	}
	out, err = f.run(t, "cert", "acme-account", "list")
	if err != nil || !strings.Contains(out, dir) || !strings.Contains(out, "kid-1") || strings.Contains(out, hmac) {
		t.Fatalf("list: %v\n%s", err, out)
	}
	// A secret file others may read is refused, like every secret file.
	openHMAC := filepath.Join(t.TempDir(), "hmac")
	if err := os.WriteFile(openHMAC, []byte(hmac), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(openHMAC, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--directory", dir, "--eab-kid", "kid-1"}, "--eab-hmac-file"},
		{[]string{"--directory", dir, "--clear", "--eab-kid", "k"}, "--clear"},
		{[]string{"--directory", "not a url", "--eab-kid", "k", "--eab-hmac-file", hmacFile}, "directory"},
		{[]string{"--directory", dir, "--eab-kid", "k", "--eab-hmac-file", filepath.Join(t.TempDir(), "missing")}, "--eab-hmac-file"},
		{[]string{"--directory", dir, "--eab-kid", "k", "--eab-hmac-file", openHMAC}, openHMAC + ": mode 0644"},
	} {
		if _, err := f.run(t, append([]string{"cert", "acme-account", "set"}, tc.args...)...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("set %v: %v, want an error naming %s", tc.args, err, tc.want)
		}
	}
	out, err = f.run(t, "cert", "acme-account", "set", "--directory", dir, "--clear")
	if err != nil || !strings.Contains(out, "eab kid:       -") {
		t.Fatalf("clear: %v\n%s", err, out)
	}
}
