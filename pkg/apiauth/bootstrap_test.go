package apiauth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-edge/strata/pkg/apiauth"
)

func TestLoadOrCreateBootstrapToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	token, path, err := apiauth.LoadOrCreateBootstrapToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, "admin.token") {
		t.Errorf("path %q", path)
	}
	if !strings.HasPrefix(token, "strata_") {
		t.Errorf("token %q lacks the strata_ prefix", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(token, "strata_"))
	if err != nil || len(raw) != 32 {
		t.Errorf("token body is not 32 bytes of base64url: %d bytes, %v", len(raw), err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %#o, want 0600", fi.Mode().Perm())
	}

	again, _, err := apiauth.LoadOrCreateBootstrapToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again != token {
		t.Errorf("second start generated a new token")
	}

	other, _, err := apiauth.LoadOrCreateBootstrapToken(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if other == token {
		t.Errorf("two data dirs got the same token")
	}
}

func TestLoadOrCreateBootstrapTokenRejectsBadFiles(t *testing.T) {
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		wantErr string
	}{
		{name: "group readable", content: "strata_x\n", mode: 0o640, wantErr: "group or others can read"},
		{name: "world readable", content: "strata_x\n", mode: 0o604, wantErr: "chmod 600"},
		{name: "empty", content: "\n", mode: 0o600, wantErr: "is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "admin.token")
			if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil { // umask may have narrowed it
				t.Fatal(err)
			}
			_, _, err := apiauth.LoadOrCreateBootstrapToken(dir)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want error containing %q", err, tt.wantErr)
			}
			if b, _ := os.ReadFile(path); string(b) != tt.content {
				t.Errorf("the rejected file was changed")
			}
		})
	}
}

func TestLoadOrCreateBootstrapTokenKeepsHandWrittenToken(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte("  strata_mine \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	token, _, err := apiauth.LoadOrCreateBootstrapToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	if token != "strata_mine" {
		t.Errorf("token %q, want strata_mine", token)
	}
}

func TestBootstrapAuthenticator(t *testing.T) {
	a := apiauth.NewBootstrapAuthenticator("strata_secret")
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{name: "exact", token: "strata_secret", ok: true},
		{name: "prefix", token: "strata_secre"},
		{name: "longer", token: "strata_secret2"},
		{name: "empty", token: ""},
		{name: "case differs", token: "STRATA_SECRET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := a.Authenticate(context.Background(), tt.token)
			if tt.ok {
				if err != nil || p != apiauth.BootstrapPrincipal {
					t.Fatalf("got %v, %v", p, err)
				}
				return
			}
			if !errors.Is(err, apiauth.ErrInvalidToken) {
				t.Fatalf("got %v, want ErrInvalidToken", err)
			}
		})
	}
}

func BenchmarkBootstrapAuthenticate(b *testing.B) {
	a := apiauth.NewBootstrapAuthenticator(apiauth.NewToken())
	tok := apiauth.NewToken()
	for b.Loop() {
		_, _ = a.Authenticate(context.Background(), tok)
	}
}
