package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/strata-edge/strata/internal/cli/clientx"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/apierr"
)

// emit prints msg as protojson with -o json, or calls text otherwise.
func (g *globals) emit(msg proto.Message, text func(w io.Writer) error) error {
	return clientx.Emit(g, msg, text)
}

// emitf prints msg as protojson with -o json, or one line of text.
func (g *globals) emitf(msg proto.Message, format string, a ...any) error {
	return clientx.Emitf(g, msg, format, a...)
}

// Short names here for the formatters shared with the command packages.
func table(w io.Writer, rows [][]string) error { return clientx.Table(w, rows) }
func yesNo(b bool) string                      { return clientx.YesNo(b) }
func orDash(s string) string                   { return clientx.OrDash(s) }
func fmtTime(ts *timestamppb.Timestamp) string { return clientx.FmtTime(ts) }

// ago is a short relative time, e.g. "4s ago".
func ago(ts *timestamppb.Timestamp, now time.Time) string {
	if ts == nil || (ts.Seconds == 0 && ts.Nanos == 0) {
		return "never"
	}
	d := now.Sub(ts.AsTime()).Round(time.Second)
	if d < 0 {
		d = 0
	}
	return d.String() + " ago"
}

// printError writes err for a human: the Connect code and message, each field
// violation on its own line, the request id, and a hint where one helps.
func printError(w io.Writer, err error, cmd *cobra.Command) {
	var ue usageError
	if errors.As(err, &ue) || isCobraUsageError(err) {
		fmt.Fprintf(w, "Error: %v\n", err)
		if cmd != nil {
			fmt.Fprintf(w, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
		return
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		fmt.Fprintf(w, "Error: %v\n", err)
		return
	}
	violations := apierr.FromConnect(err)
	msg := ce.Message()
	if len(violations) > 0 {
		// The message repeats the violations; show them once, as a list.
		parts := make([]string, len(violations))
		for i, v := range violations {
			parts[i] = v.String()
		}
		msg = strings.TrimSuffix(msg, ": "+strings.Join(parts, "; "))
	}
	fmt.Fprintf(w, "Error: %s: %s\n", ce.Code(), msg)
	for _, v := range violations {
		fmt.Fprintf(w, "  - %s\n", v)
	}
	switch ce.Code() {
	case connect.CodeUnauthenticated:
		fmt.Fprintln(w, "Hint: pass --token, --token-file or STRATA_TOKEN; strata dev writes the admin token to <data dir>/admin.token.")
	case connect.CodeUnavailable:
		fmt.Fprintln(w, "Hint: is the API running at --api (STRATA_API)? Start one with `strata dev`.")
	case connect.CodeAborted:
		fmt.Fprintln(w, "Hint: the app changed since you read it; check `strata app get` and retry with the new version.")
	}
	if id := ce.Meta().Get(apiauth.RequestIDHeader); id != "" {
		fmt.Fprintf(w, "(request id %s)\n", id)
	}
}

// isCobraUsageError recognises the errors cobra returns for a wrong command
// line (it has no error types for them).
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, prefix := range []string{"required flag(s)", "unknown command", "unknown flag", "unknown shorthand flag", "if any flags in the group", "invalid argument"} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}
