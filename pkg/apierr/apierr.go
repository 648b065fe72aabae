// Package apierr is the one place where domain errors become Connect errors.
//
// Services return the errors built here (Invalid, NotFound, Conflict,
// FailedPrecondition) or plain errors; handlers pass every error through
// ToConnect, which picks the Connect code, attaches field-level detail
// (google.rpc.BadRequest) and hides the text of unexpected errors.
package apierr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/strata-edge/strata/pkg/eventstore"
)

// FieldViolation names one rejected input field and why, e.g.
// {Field: "upstream.servers[1].address", Reason: "port 0 is out of range 1-65535"}.
type FieldViolation struct {
	Field  string
	Reason string
}

func (v FieldViolation) String() string {
	if v.Field == "" {
		return v.Reason
	}
	return v.Field + ": " + v.Reason
}

// Kind classifies an Error; each kind maps to one Connect code.
type Kind int

const (
	KindInvalid            Kind = iota + 1 // InvalidArgument
	KindNotFound                           // NotFound
	KindConflict                           // Aborted: stale expected version, concurrent write
	KindFailedPrecondition                 // FailedPrecondition: valid input, wrong state
)

// Error is a domain error with a kind, a message and optional field violations.
type Error struct {
	Kind       Kind
	Msg        string
	Violations []FieldViolation
}

func (e *Error) Error() string {
	if len(e.Violations) == 0 {
		return e.Msg
	}
	parts := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		parts[i] = v.String()
	}
	if e.Msg == "" {
		return strings.Join(parts, "; ")
	}
	return e.Msg + ": " + strings.Join(parts, "; ")
}

// Invalid reports rejected input, one violation per bad field.
func Invalid(violations ...FieldViolation) error {
	return &Error{Kind: KindInvalid, Msg: "invalid argument", Violations: violations}
}

// NotFound reports a missing object, e.g. NotFound("app", "app_x1").
func NotFound(kind, id string) error {
	return &Error{Kind: KindNotFound, Msg: fmt.Sprintf("%s %q not found", kind, id)}
}

// Conflict reports a stale expected version or a concurrent write (Aborted:
// the caller should reload and retry).
func Conflict(msg string) error {
	return &Error{Kind: KindConflict, Msg: msg}
}

// FailedPrecondition reports a valid request that the current state refuses.
func FailedPrecondition(msg string) error {
	return &Error{Kind: KindFailedPrecondition, Msg: msg}
}

// Violations returns the field violations carried by err (nil when none).
func Violations(err error) []FieldViolation {
	var e *Error
	if errors.As(err, &e) {
		return e.Violations
	}
	return nil
}

// IsKind reports whether err is an *Error of the given kind.
func IsKind(err error, k Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}

// ToConnect maps err to a Connect error. Errors it does not know become
// Internal with a generic message; their detail is logged with slog.Default.
func ToConnect(err error) *connect.Error {
	return ToConnectLog(slog.Default(), err)
}

// Fields collects the field violations of one request: Add records a
// check's reason (nothing when the check passed and gave ""), Addf a
// formatted one, and Err is the Invalid error of them all (nil: none).
type Fields []FieldViolation

// Add records reason for field unless it is "".
func (f *Fields) Add(field, reason string) {
	if reason != "" {
		*f = append(*f, FieldViolation{Field: field, Reason: reason})
	}
}

// Addf records a reason made as by fmt.Sprintf.
func (f *Fields) Addf(field, format string, args ...any) {
	*f = append(*f, FieldViolation{Field: field, Reason: fmt.Sprintf(format, args...)})
}

// Err is Invalid(f...), or nil when f is empty.
func (f Fields) Err() error {
	if len(f) == 0 {
		return nil
	}
	return Invalid(f...)
}

// Reply is the last step of an RPC handler: res, or (when err is set) no
// response and err as a Connect error, logged to logger when unexpected.
// The caller builds res before it knows err, so res must be safe to build
// (no dereference of what an error leaves nil).
func Reply[R any](logger *slog.Logger, res *R, err error) (*R, error) {
	if err != nil {
		return nil, ToConnectLog(logger, err)
	}
	return res, nil
}

// ToConnectLog is ToConnect logging unexpected errors to logger.
func ToConnectLog(logger *slog.Logger, err error) *connect.Error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce
	}
	var e *Error
	if errors.As(err, &e) {
		return fromError(e)
	}
	switch {
	case errors.Is(err, eventstore.ErrTooLarge):
		// A service that knows the payload names its field first
		// (CheckEventSize); this keeps any other from being internal.
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, eventstore.ErrConflict):
		return connect.NewError(connect.CodeAborted,
			errors.New("concurrent modification: the object changed meanwhile; reload and retry"))
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, errors.New("request canceled"))
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, errors.New("deadline exceeded"))
	case errors.Is(err, eventstore.ErrClosed):
		return connect.NewError(connect.CodeUnavailable, errors.New("service is shutting down"))
	}
	if logger != nil {
		logger.Error("internal error", "err", err)
	}
	return connect.NewError(connect.CodeInternal, errors.New("internal error"))
}

func fromError(e *Error) *connect.Error {
	code := connect.CodeInternal
	switch e.Kind {
	case KindInvalid:
		code = connect.CodeInvalidArgument
	case KindNotFound:
		code = connect.CodeNotFound
	case KindConflict:
		code = connect.CodeAborted
	case KindFailedPrecondition:
		code = connect.CodeFailedPrecondition
	}
	ce := connect.NewError(code, errors.New(e.Error()))
	if len(e.Violations) > 0 {
		br := &errdetails.BadRequest{}
		for _, v := range e.Violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
				Field:       v.Field,
				Description: v.Reason,
			})
		}
		if d, err := connect.NewErrorDetail(br); err == nil {
			ce.AddDetail(d)
		}
	}
	return ce
}

// FromConnect extracts the field violations of a Connect error received by a
// client (the BadRequest detail), for CLIs and tests.
func FromConnect(err error) []FieldViolation {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return nil
	}
	var out []FieldViolation
	for _, d := range ce.Details() {
		v, err := d.Value()
		if err != nil {
			continue
		}
		if br, ok := v.(*errdetails.BadRequest); ok {
			for _, fv := range br.GetFieldViolations() {
				out = append(out, FieldViolation{Field: fv.GetField(), Reason: fv.GetDescription()})
			}
		}
	}
	return out
}
