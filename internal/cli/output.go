package cli

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/apierr"
)

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

// httpStatusRE is the message connect-go gives a response that is not RPC
// at all, e.g. "404 Not Found".
var httpStatusRE = regexp.MustCompile(`^\d{3} [A-Za-z ]+$`)

// printError writes err for a human: the Connect code and message, each field
// violation on its own line (named by its CLI flag), the request id, and a
// hint where one helps. api is --api.
func printError(w io.Writer, err error, cmd *cobra.Command, api string) {
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
	if ce.Code() == connect.CodeUnimplemented && httpStatusRE.MatchString(ce.Message()) {
		// A web server answered, not an API: an edge node's port, say.
		fmt.Fprintf(w, "Error: %s is not a Strata API (it answered HTTP %s).\n", api, ce.Message())
		fmt.Fprintln(w, "Hint: --api (STRATA_API) is the \"api:\" address of strata dev or strata control (default http://127.0.0.1:7400), not an edge node's HTTP port.")
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
		if flag := flagFor(cmd, v.Field); flag != "" {
			v.Field = flag // what the user typed, not the API's field path
		}
		fmt.Fprintf(w, "  - %s\n", v)
		if v.Field == "--when" {
			if hint := whenHint(cmd.Flags().Lookup("when")); hint != "" {
				fmt.Fprintln(w, hint)
			}
		}
	}
	switch ce.Code() {
	case connect.CodeUnauthenticated:
		fmt.Fprintln(w, "Hint: pass --token, --token-file or STRATA_TOKEN; strata dev writes the admin token to <data dir>/admin.token.")
	case connect.CodeUnavailable:
		fmt.Fprintln(w, "Hint: is the API running at --api (STRATA_API)? Start one with `strata dev`.")
	case connect.CodeAborted:
		if cmd != nil && cmd.Parent() != nil && cmd.Parent().Name() == "metric" {
			fmt.Fprintln(w, "Hint: the metric changed since you read it; check `strata metric show` and retry with the new version.")
			break
		}
		fmt.Fprintln(w, "Hint: the app changed since you read it; check `strata app get` and retry with the new version.")
	}
	if id := ce.Meta().Get(apiauth.RequestIDHeader); id != "" {
		fmt.Fprintf(w, "(request id %s)\n", id)
	}
}

// unquotedArg is a call of the rule language whose argument lacks its
// double quotes, e.g. PathPrefix(/api): the shell ate them.
var unquotedArg = regexp.MustCompile(`([A-Za-z]+)\(([^"()]+)\)`)

// whenHint suggests the quoted form of a --when expression with an unquoted
// string argument, or "".
func whenHint(f *pflag.Flag) string {
	if f == nil {
		return ""
	}
	expr := f.Value.String()
	fixed := unquotedArg.ReplaceAllStringFunc(expr, func(call string) string {
		m := unquotedArg.FindStringSubmatch(call)
		if _, err := strconv.ParseFloat(strings.TrimSpace(m[2]), 64); err == nil {
			return call // a number needs no quotes
		}
		return m[1] + `("` + strings.TrimSpace(m[2]) + `")`
	})
	if fixed == expr {
		return ""
	}
	return fmt.Sprintf("Hint: strings in --when are double-quoted; quote the whole argument for the shell: --when '%s'", fixed)
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
