package apierr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/strata-edge/strata/pkg/eventstore"
)

func TestToConnect(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		code     connect.Code
		msg      string // substring of the message
		hidden   string // must not appear in the message
		fields   []FieldViolation
		wantsLog bool
	}{
		{
			name: "invalid with violations",
			err: Invalid(FieldViolation{"upstream.servers[1].address", "port 0 is out of range 1-65535"},
				FieldViolation{"name", "is empty"}),
			code: connect.CodeInvalidArgument,
			msg:  "upstream.servers[1].address: port 0 is out of range 1-65535; name: is empty",
			fields: []FieldViolation{{"upstream.servers[1].address", "port 0 is out of range 1-65535"},
				{"name", "is empty"}},
		},
		{name: "wrapped invalid", err: fmt.Errorf("create app: %w", Invalid(FieldViolation{"domains[2]", "duplicate"})),
			code: connect.CodeInvalidArgument, msg: "domains[2]: duplicate", fields: []FieldViolation{{"domains[2]", "duplicate"}}},
		{name: "not found", err: NotFound("app", "app_x"), code: connect.CodeNotFound, msg: `app "app_x" not found`},
		{name: "conflict", err: Conflict("app changed: expected version 3, it is 5"), code: connect.CodeAborted, msg: "expected version 3"},
		{name: "store conflict", err: fmt.Errorf("append: %w", eventstore.ErrConflict), code: connect.CodeAborted, msg: "reload and retry"},
		{name: "precondition", err: FailedPrecondition("nothing to release"), code: connect.CodeFailedPrecondition, msg: "nothing to release"},
		{name: "canceled", err: fmt.Errorf("x: %w", context.Canceled), code: connect.CodeCanceled},
		{name: "deadline", err: context.DeadlineExceeded, code: connect.CodeDeadlineExceeded},
		{name: "closed store", err: eventstore.ErrClosed, code: connect.CodeUnavailable},
		{name: "connect error passes through", err: connect.NewError(connect.CodePermissionDenied, errors.New("no")),
			code: connect.CodePermissionDenied, msg: "no"},
		{name: "unknown error is hidden and logged", err: errors.New("pq: password=secret"),
			code: connect.CodeInternal, msg: "internal error", hidden: "secret", wantsLog: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			ce := ToConnectLog(slog.New(slog.NewTextHandler(&logs, nil)), tt.err)
			if ce.Code() != tt.code {
				t.Fatalf("code = %v, want %v (%v)", ce.Code(), tt.code, ce)
			}
			if !strings.Contains(ce.Message(), tt.msg) {
				t.Errorf("message %q does not contain %q", ce.Message(), tt.msg)
			}
			if tt.hidden != "" && strings.Contains(ce.Message(), tt.hidden) {
				t.Errorf("message %q leaks %q", ce.Message(), tt.hidden)
			}
			if got := logs.Len() > 0; got != tt.wantsLog {
				t.Errorf("logged = %v, want %v: %s", got, tt.wantsLog, logs.String())
			}
			if tt.wantsLog && !strings.Contains(logs.String(), tt.hidden) {
				t.Errorf("log does not carry the detail: %s", logs.String())
			}
			got := FromConnect(ce)
			if len(got) != len(tt.fields) {
				t.Fatalf("violations = %v, want %v", got, tt.fields)
			}
			for i := range got {
				if got[i] != tt.fields[i] {
					t.Errorf("violation %d = %v, want %v", i, got[i], tt.fields[i])
				}
			}
		})
	}
}

func TestToConnectNil(t *testing.T) {
	if ToConnect(nil) != nil {
		t.Fatal("ToConnect(nil) != nil")
	}
}

func TestViolationsAndKind(t *testing.T) {
	err := fmt.Errorf("wrap: %w", Invalid(FieldViolation{"a", "b"}))
	if v := Violations(err); len(v) != 1 || v[0].Field != "a" {
		t.Fatalf("Violations = %v", v)
	}
	if !IsKind(err, KindInvalid) || IsKind(err, KindNotFound) {
		t.Fatal("IsKind wrong")
	}
	if Violations(errors.New("x")) != nil {
		t.Fatal("plain error has violations")
	}
}
