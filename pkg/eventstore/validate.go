package eventstore

import (
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrInvalid is wrapped by every error about bad input (a stream name, an
// event field, an empty append). The message names the field and the reason;
// nothing was stored.
var ErrInvalid = errors.New("eventstore: invalid argument")

// ErrTooLarge is wrapped by the error of an append with an event whose Data
// is longer than MaxDataLen. It wraps ErrInvalid.
var ErrTooLarge = fmt.Errorf("%w: event too large", ErrInvalid)

// Limits that every implementation enforces, so that an event accepted by one
// store is accepted by all.
const (
	// MaxStreamNameLen is the longest stream name in bytes.
	MaxStreamNameLen = 200
	// MaxIDLen is the longest event ID or type in bytes.
	MaxIDLen = 200
	// MaxMetadataLen is the longest metadata value (actor, request ID,
	// causation ID) in bytes.
	MaxMetadataLen = 1024
	// MaxEventsPerAppend is the most events one Append takes. It matches
	// JetStream's default atomic batch limit.
	MaxEventsPerAppend = 1000
	// MaxDataLen is the longest Data of one event: NATS's default 1 MiB
	// message less 16 KiB for the headers (ids, type, metadata).
	MaxDataLen = 1<<20 - 16<<10
)

// ValidateStreamName reports whether name can name a stream: 1 to
// MaxStreamNameLen ASCII letters, digits, '_', '-' and '.', where dots
// separate non-empty segments ("app.app_123", not ".a", "a." or "a..b").
// Such names are valid NATS subject tokens and need no quoting anywhere.
func ValidateStreamName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: stream name: must not be empty", ErrInvalid)
	}
	if len(name) > MaxStreamNameLen {
		return fmt.Errorf("%w: stream name: longer than %d bytes", ErrInvalid, MaxStreamNameLen)
	}
	segStart := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			if segStart {
				return fmt.Errorf("%w: stream name %q: empty segment at byte %d (no leading, trailing or double dots)", ErrInvalid, name, i)
			}
			segStart = true
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
			segStart = false
		default:
			return fmt.Errorf("%w: stream name %q: character %q at byte %d not allowed (letters, digits, '_', '-', '.')", ErrInvalid, name, rune(c), i)
		}
	}
	if segStart {
		return fmt.Errorf("%w: stream name %q: must not end with a dot", ErrInvalid, name)
	}
	return nil
}

// ValidateAppend checks the arguments of Store.Append: a valid stream name,
// 1 to MaxEventsPerAppend events, each with an ID and a Type, no ID twice, and
// metadata that survives transport in message headers.
func ValidateAppend(stream string, events []Event) error {
	if err := ValidateStreamName(stream); err != nil {
		return err
	}
	if len(events) == 0 {
		return fmt.Errorf("%w: events: at least one event is required", ErrInvalid)
	}
	if len(events) > MaxEventsPerAppend {
		return fmt.Errorf("%w: events: %d events, at most %d per append", ErrInvalid, len(events), MaxEventsPerAppend)
	}
	seen := make(map[string]int, len(events))
	for i, e := range events {
		if err := validateToken(e.ID, MaxIDLen); err != nil {
			return fmt.Errorf("%w: events[%d].ID: %s", ErrInvalid, i, err)
		}
		if j, dup := seen[e.ID]; dup {
			return fmt.Errorf("%w: events[%d].ID: %q repeats events[%d].ID", ErrInvalid, i, e.ID, j)
		}
		seen[e.ID] = i
		if err := validateToken(e.Type, MaxIDLen); err != nil {
			return fmt.Errorf("%w: events[%d].Type: %s", ErrInvalid, i, err)
		}
		for _, f := range []struct{ name, v string }{
			{"Actor", e.Metadata.Actor},
			{"RequestID", e.Metadata.RequestID},
			{"CausationID", e.Metadata.CausationID},
		} {
			if err := validateText(f.v, MaxMetadataLen); err != nil {
				return fmt.Errorf("%w: events[%d].Metadata.%s: %s", ErrInvalid, i, f.name, err)
			}
		}
		if len(e.Data) > MaxDataLen {
			return fmt.Errorf("%w: events[%d].Data (%s): %d bytes, more than the limit of %d", ErrTooLarge, i, e.Type, len(e.Data), MaxDataLen)
		}
		if y := e.Metadata.Time.Year(); !e.Metadata.Time.IsZero() && (y < 1 || y > 9999) {
			return fmt.Errorf("%w: events[%d].Metadata.Time: year %d out of range 1-9999", ErrInvalid, i, y)
		}
	}
	return nil
}

// validateToken accepts a non-empty string of printable non-space characters.
func validateToken(s string, maxLen int) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	if len(s) > maxLen {
		return fmt.Errorf("longer than %d bytes", maxLen)
	}
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return fmt.Errorf("character %q not allowed (no spaces or control characters)", r)
		}
	}
	return nil
}

// validateText accepts printable text (possibly empty) without leading or
// trailing spaces, which header transports would trim.
func validateText(s string, maxLen int) error {
	if len(s) > maxLen {
		return fmt.Errorf("longer than %d bytes", maxLen)
	}
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	for i, r := range s {
		if !unicode.IsPrint(r) && r != ' ' {
			return fmt.Errorf("character %q at byte %d not allowed (no control characters)", r, i)
		}
		if unicode.IsSpace(r) && (i == 0 || i+utf8.RuneLen(r) == len(s)) {
			return errors.New("must not start or end with a space")
		}
	}
	return nil
}

// Prepare validates an append and returns a copy of events with Stream set
// and Metadata.Time filled in (now, when zero) and normalized to UTC with
// microsecond precision, the finest every implementation stores. Empty Data
// becomes nil and Position is cleared. Implementations call it first in Append.
func Prepare(stream string, events []Event, now time.Time) ([]Event, error) {
	if err := ValidateAppend(stream, events); err != nil {
		return nil, err
	}
	out := make([]Event, len(events))
	now = NormalizeTime(now)
	for i, e := range events {
		e.Stream = stream
		e.Position = 0
		if len(e.Data) == 0 {
			e.Data = nil // stores do not tell empty from absent
		}
		if e.Metadata.Time.IsZero() {
			e.Metadata.Time = now
		} else {
			e.Metadata.Time = NormalizeTime(e.Metadata.Time)
		}
		out[i] = e
	}
	return out, nil
}

// NormalizeTime returns t in UTC, truncated to microseconds, without a
// monotonic clock reading.
func NormalizeTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond).Round(0)
}
