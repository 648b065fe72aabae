package clientx_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/strata-edge/strata/internal/cli/clientx"
)

type env struct {
	timeout time.Duration
	json    bool
	out     bytes.Buffer
}

func (e *env) Timeout() time.Duration { return e.timeout }
func (e *env) JSON() bool             { return e.json }
func (e *env) Stdin() io.Reader       { return strings.NewReader("") }
func (e *env) Stdout() io.Writer      { return &e.out }
func (e *env) Stderr() io.Writer      { return io.Discard }

func TestCallBoundsEachCallByTheTimeout(t *testing.T) {
	e := &env{timeout: time.Minute}
	client := func() (string, error) { return "client", nil }
	left, err := clientx.Call(context.Background(), e, client, func(ctx context.Context, c string) (time.Duration, error) {
		if c != "client" {
			t.Fatalf("fn got client %q", c)
		}
		d, ok := ctx.Deadline()
		if !ok {
			t.Fatal("no deadline")
		}
		return time.Until(d), nil
	})
	if err != nil || left <= 0 || left > time.Minute {
		t.Fatalf("time left %s, err %v; want (0, 1m]", left, err)
	}

	// A client that cannot be built (bad --api, unreadable token) is the error; fn never runs.
	bad := errors.New("--api: not a URL")
	_, err = clientx.Call(context.Background(), e, func() (string, error) { return "", bad }, func(context.Context, string) (int, error) {
		t.Fatal("fn ran without a client")
		return 0, nil
	})
	if !errors.Is(err, bad) {
		t.Fatalf("err %v, want %v", err, bad)
	}
}

func TestEmitTextOrJSON(t *testing.T) {
	msg := wrapperspb.String("hello")
	text := func(w io.Writer) error { _, err := io.WriteString(w, "as text\n"); return err }
	e := &env{}
	if err := clientx.Emit(e, msg, text); err != nil || e.out.String() != "as text\n" {
		t.Fatalf("text: %q, %v", e.out.String(), err)
	}
	e = &env{json: true}
	if err := clientx.Emit(e, msg, text); err != nil || strings.TrimSpace(e.out.String()) != `"hello"` {
		t.Fatalf("-o json: %q, %v", e.out.String(), err)
	}
	e = &env{}
	if err := clientx.Emitf(e, msg, "deleted %s (version %d)", "web", 7); err != nil || e.out.String() != "deleted web (version 7)\n" {
		t.Fatalf("Emitf text: %q, %v", e.out.String(), err)
	}
}

func TestFormatters(t *testing.T) {
	var b bytes.Buffer
	if err := clientx.Table(&b, [][]string{{"ID", "NAME"}, {"a_1", clientx.OrDash("")}, {"a_22", clientx.YesNo(true)}}); err != nil {
		t.Fatal(err)
	}
	if want := "ID    NAME\na_1   -\na_22  yes\n"; b.String() != want {
		t.Fatalf("table:\n%q\nwant\n%q", b.String(), want)
	}
	if got := clientx.FmtTime(nil); got != "-" {
		t.Fatalf("FmtTime(nil) = %q", got)
	}
}
