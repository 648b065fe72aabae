package join_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-edge/strata/node/join"
)

// Run refuses a data directory it cannot trust, saying what to do.
func TestRunRefuses(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string)
		wantErr string
	}{
		{name: "no token and no identity", prepare: func(*testing.T, string) {}, wantErr: "--join-token: required"},
		{name: "key readable by others", prepare: func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, join.KeyFile), []byte("SUAx\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, wantErr: "chmod 600"},
		{name: "key not a seed", prepare: func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, join.KeyFile), []byte("hello\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, wantErr: "not an nkey seed"},
		{name: "broken state", prepare: func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, join.StateFile), []byte(`{"node_id":"n1"}`), 0o600); err != nil {
				t.Fatal(err)
			}
		}, wantErr: "join again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.prepare(t, dir)
			_, err := join.Run(context.Background(), join.Options{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
