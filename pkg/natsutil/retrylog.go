package natsutil

import (
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
)

// StartupGrace is how long after a node starts that "no responders" is read
// as its leaf link still coming up: the link is made, but the hub's
// JetStream API is not reachable across it for a few milliseconds more.
const StartupGrace = 10 * time.Second

// RetryLevel is the level at which a retry loop started at started logs the
// failure err. "No responders" within StartupGrace of the start is Info: a
// normal start of a node (or of strata dev) logs no warning for it. Any other
// failure, or one that lasts longer, is Warn.
func RetryLevel(err error, started time.Time) slog.Level {
	if errors.Is(err, nats.ErrNoResponders) && time.Since(started) < StartupGrace {
		return slog.LevelInfo
	}
	return slog.LevelWarn
}
