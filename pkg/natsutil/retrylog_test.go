package natsutil

import (
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestRetryLevel(t *testing.T) {
	wrapped := fmt.Errorf("look up stream STRATA_SYNC: %w", nats.ErrNoResponders)
	tests := []struct {
		name    string
		err     error
		started time.Time
		want    slog.Level
	}{
		{name: "no responders at start", err: wrapped, started: time.Now(), want: slog.LevelInfo},
		{name: "no responders long after start", err: wrapped, started: time.Now().Add(-StartupGrace - time.Second), want: slog.LevelWarn},
		{name: "another failure at start", err: errors.New("stream not found"), started: time.Now(), want: slog.LevelWarn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RetryLevel(tt.err, tt.started); got != tt.want {
				t.Errorf("RetryLevel = %v, want %v", got, tt.want)
			}
		})
	}
}
