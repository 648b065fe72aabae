// Package clitest helps the tests of the strata command packages: an Env
// that captures output, a real service served on a test server, and running
// one command line.
package clitest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/strata-edge/strata/internal/cli/clientx"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// Env is a clientx.Env whose output is kept in buffers; embed it in a
// command package's test client factory.
type Env struct {
	AsJSON   bool // -o json
	In       io.Reader
	Out, Err bytes.Buffer
}

func (e *Env) Timeout() time.Duration { return 10 * time.Second }
func (e *Env) JSON() bool             { return e.AsJSON }
func (e *Env) Stdin() io.Reader       { return e.In }
func (e *Env) Stdout() io.Writer      { return &e.Out }
func (e *Env) Stderr() io.Writer      { return &e.Err }

// Run executes `strata <args>` with cmds under a bare root command and
// returns what it printed on stdout (the buffers are reset first).
func (e *Env) Run(cmds []*cobra.Command, args ...string) (string, error) {
	root := &cobra.Command{Use: "strata", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(cmds...)
	root.SetArgs(args)
	root.SetOut(&e.Out)
	root.SetErr(&e.Err)
	e.Out.Reset()
	e.Err.Reset()
	err := root.ExecuteContext(context.Background())
	return e.Out.String(), err
}

var _ clientx.Env = (*Env)(nil)

// Store returns an event store on an embedded JetStream server of the test
// (closed when the test ends), and that server's JetStream.
func Store(t testing.TB) (eventstore.Store, jetstream.JetStream) {
	t.Helper()
	js, err := jetstream.New(natstest.Connect(t, natstest.RunServer(t)))
	if err != nil {
		t.Fatal(err)
	}
	store, err := eventstore.NewJetStream(context.Background(), js, eventstore.JetStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return store, js
}

// Service is what every control service offers (services/*).
type Service interface {
	Start(context.Context) error
	Stop(context.Context) error
	Handler(...connect.HandlerOption) (string, http.Handler)
}

// Serve starts svc and serves its Connect handler on a test server; both
// stop when the test ends.
func Serve(t testing.TB, svc Service) *httptest.Server {
	t.Helper()
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })
	mux := http.NewServeMux()
	mux.Handle(svc.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}
