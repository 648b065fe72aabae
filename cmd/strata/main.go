// Command strata is Strata's one binary: `strata dev` runs everything in one
// process, `strata control` runs control services, and every other command is
// the API client. See docs/cli.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/strata-edge/strata/internal/cli"
	"github.com/strata-edge/strata/pkg/buildinfo"
)

// Set at build time: go build -ldflags "-X main.version=v0.1.0 -X main.commit=abc123".
var (
	version = "dev"
	commit  = ""
)

func main() {
	buildinfo.Set(version) // what nodes report in heartbeats
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills the process the default way.
		<-ctx.Done()
		stop()
	}()
	code := cli.Execute(ctx, cli.BuildInfo{Version: version, Commit: commit}, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
