// Package clientx is what the strata API commands share: the settings of the
// global flags (Env), an API call bounded by --timeout (Call), output as text
// or -o json (Emit) and the small text formatters of tables. The root command
// (internal/cli) implements Env; it and the command packages (certcmd,
// dnscmd, iamcmd, purgecmd) import this package, which imports none of them.
package clientx

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Env is what the global flags give every command.
type Env interface {
	// Timeout bounds each API call (--timeout).
	Timeout() time.Duration
	// JSON reports -o json.
	JSON() bool
	Stdin() io.Reader
	Stdout() io.Writer
	Stderr() io.Writer
}

// Call runs fn with the client client returns and a context derived from ctx,
// bounded by the Env's timeout.
func Call[C, T any](ctx context.Context, e Env, client func() (C, error), fn func(context.Context, C) (T, error)) (T, error) {
	c, err := client()
	if err != nil {
		var zero T
		return zero, err
	}
	ctx, cancel := context.WithTimeout(ctx, e.Timeout())
	defer cancel()
	return fn(ctx, c)
}

// RPC is the fn of Call and Show that sends req with one method of the
// client: rpc is a method expression of the client's interface, such as
// dnsv1connect.DnsServiceClient.GetZone.
func RPC[C, Req, Res any](rpc func(C, context.Context, Req) (Res, error), req Req) func(context.Context, C) (Res, error) {
	return func(ctx context.Context, c C) (Res, error) { return rpc(c, ctx, req) }
}

// Show makes one call (as Call) and prints its answer (as Emit); text
// writes it for people.
func Show[C any, T proto.Message](ctx context.Context, e Env, client func() (C, error), fn func(context.Context, C) (T, error), text func(io.Writer, T) error) error {
	res, err := Call(ctx, e, client, fn)
	if err != nil {
		return err
	}
	return Emit(e, res, func(w io.Writer) error { return text(w, res) })
}

// Line writes one line of text: format and a as for fmt.Printf, without the
// newline.
func Line(w io.Writer, format string, a ...any) error {
	_, err := fmt.Fprintf(w, format+"\n", a...)
	return err
}

// jsonOut is the one JSON convention of every command (docs/cli.md,
// "Output"): the API's protojson mapping with the proto field names
// (applied_version, not appliedVersion), so -o json reads like the .proto
// files and the snapshots nodes run. As protojson does, 64-bit integers are
// strings and fields at their zero value are left out.
var jsonOut = protojson.MarshalOptions{Multiline: true, Indent: "  ", UseProtoNames: true}

// JSON encodes msg the way -o json prints it.
func JSON(msg proto.Message) ([]byte, error) { return jsonOut.Marshal(msg) }

// Emit prints msg as protojson with -o json, or calls text otherwise.
func Emit(e Env, msg proto.Message, text func(w io.Writer) error) error {
	if e.JSON() {
		b, err := JSON(msg)
		if err != nil {
			return fmt.Errorf("encode output: %w", err)
		}
		_, err = fmt.Fprintf(e.Stdout(), "%s\n", b)
		return err
	}
	return text(e.Stdout())
}

// Emitf prints msg as protojson with -o json, or one line of text: format
// and a as for fmt.Printf, without the newline.
func Emitf(e Env, msg proto.Message, format string, a ...any) error {
	return Emit(e, msg, func(w io.Writer) error { return Line(w, format, a...) })
}

// Table writes rows aligned in columns; the first row is the header.
func Table(w io.Writer, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// YesNo is a boolean cell.
func YesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// OrDash is s, or "-" for an empty cell.
func OrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// NameOr is the name names holds for id, or id when it holds none: a table
// cell naming another object (a cluster's partition, a certificate's apps).
func NameOr(names map[string]string, id string) string {
	if n := names[id]; n != "" {
		return n
	}
	return id
}

// FmtTime is ts in local time, or "-" when unset.
func FmtTime(ts *timestamppb.Timestamp) string {
	if ts == nil || (ts.Seconds == 0 && ts.Nanos == 0) {
		return "-"
	}
	return ts.AsTime().Local().Format(time.DateTime)
}
