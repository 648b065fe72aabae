// Package purgecmd is the command line of the purge service: strata purge
// url|prefix|tag|host|condition, get and list, and strata cache push (push.go).
// The root command adds Commands(factory).
package purgecmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
	"github.com/strata-edge/strata/gen/strata/purge/v1/purgev1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
)

// ClientFactory is what the root command provides.
type ClientFactory interface {
	clientx.Env
	// PurgeClient returns a PurgeService client for --api, authenticated
	// like every other command.
	PurgeClient() (purgev1connect.PurgeServiceClient, error)
}

// pollInterval is how often --wait asks for progress.
const pollInterval = 50 * time.Millisecond

// Commands returns the top-level "purge" command.
func Commands(f ClientFactory) []*cobra.Command {
	purge := &cobra.Command{
		Use:   "purge",
		Short: "Remove (or mark stale) cached objects on every node, without a release",
		Example: `  strata purge url https://shop.example.com/a.css --wait
  strata purge prefix shop.example.com/static/ --app app_...
  strata purge tag product-42 --soft
  strata purge condition --host shop.example.com --path-regex '^/img/.*\.png$' --header 'Content-Type: image/png'`,
	}
	kinds := []struct {
		use, short string
		kind       purgev1.PurgeKind
	}{
		{"url URL...", "Purge exact URLs (https://host/path?query or host/path?query)", purgev1.PurgeKind_PURGE_KIND_URL},
		{"prefix PREFIX...", "Purge URL prefixes (host/path-prefix)", purgev1.PurgeKind_PURGE_KIND_PREFIX},
		{"tag TAG...", "Purge objects by surrogate key (Cache-Tag response header)", purgev1.PurgeKind_PURGE_KIND_TAG},
		{"host HOST...", "Purge everything cached for host names", purgev1.PurgeKind_PURGE_KIND_HOST},
	}
	for _, k := range kinds {
		purge.AddCommand(createCmd(f, k.use, k.short, k.kind))
	}
	purge.AddCommand(conditionCmd(f), getCmd(f), listCmd(f))
	return []*cobra.Command{purge, cacheCmd(f)}
}

func call[T any](ctx context.Context, f ClientFactory, fn func(context.Context, purgev1connect.PurgeServiceClient) (T, error)) (T, error) {
	return clientx.Call(ctx, f, f.PurgeClient, fn)
}

// scopeFlags are the options every purge kind shares.
type scopeFlags struct {
	app, partition string
	soft, wait     bool
}

func (sf *scopeFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&sf.app, "app", "", "purge only this app's hosts, id or name (default: everything)")
	fl.StringVar(&sf.partition, "partition", "", "purge only on this partition's nodes (id or name)")
	fl.BoolVar(&sf.soft, "soft", false, "mark objects stale (revalidated on the next request) instead of deleting them")
	fl.BoolVar(&sf.wait, "wait", false, "return when every expected node has acknowledged, printing the time to the last ack")
}

const scopeLong = `

Without --app or --partition the purge applies on every node. With --wait the
command returns when every node that was online when the purge was created has
acknowledged it (at most --timeout), and prints the time to the last ack.`

// create sends req with the scope and --soft, then waits and prints.
func (sf *scopeFlags) create(cmd *cobra.Command, f ClientFactory, req *purgev1.CreatePurgeRequest) error {
	if sf.app != "" && sf.partition != "" {
		return fmt.Errorf("--app and --partition: give at most one scope")
	}
	req.Scope = &purgev1.Scope{Target: &purgev1.Scope_All{All: true}}
	switch {
	case sf.app != "":
		req.Scope.Target = &purgev1.Scope_AppId{AppId: sf.app}
	case sf.partition != "":
		req.Scope.Target = &purgev1.Scope_PartitionId{PartitionId: sf.partition}
	}
	req.Soft = sf.soft
	resp, err := call(cmd.Context(), f, clientx.RPC(purgev1connect.PurgeServiceClient.CreatePurge, req))
	if err != nil {
		return err
	}
	p := resp.GetPurge()
	if sf.wait {
		if p, err = waitDone(cmd.Context(), f, p, f.Timeout()); err != nil {
			return err
		}
	}
	return clientx.Emit(f, p, func(w io.Writer) error {
		if !sf.wait {
			return clientx.Line(w, "%s", p.GetId())
		}
		_, err := fmt.Fprintf(w, "%s: purged on %d/%d nodes in %d ms\n",
			p.GetId(), p.GetNodesDone(), p.GetNodesTotal(), p.GetTimeToLastAck().AsDuration().Milliseconds())
		return err
	})
}

func createCmd(f ClientFactory, use, short string, kind purgev1.PurgeKind) *cobra.Command {
	var sf scopeFlags
	cmd := &cobra.Command{
		Use:   use + " [--app APP|--partition P] [--soft] [--wait] [--timeout 30s]",
		Long:  short + "." + scopeLong,
		Short: short,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return fmt.Errorf("missing argument: at least one value to purge")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return sf.create(cmd, f, &purgev1.CreatePurgeRequest{Kind: kind, Values: args})
		},
	}
	sf.register(cmd)
	return cmd
}

func conditionCmd(f ClientFactory) *cobra.Command {
	var (
		sf               scopeFlags
		host, re, header string
	)
	const short = "Purge a host's objects whose path matches a regex and whose response has a header"
	cmd := &cobra.Command{
		Use: "condition --host HOST [--path-regex RE] [--header 'Name: value'] [--app APP|--partition P] [--soft] [--wait]",
		Long: short + `.

--path-regex is an RE2 expression matched against the path (without the
query); none matches every path. --header 'Name: value' keeps only objects
whose stored response has that header with that value (case-insensitive);
--header Name only needs the header to be present.` + scopeLong,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if host == "" {
				return fmt.Errorf("--host is required")
			}
			c := &purgev1.Condition{Host: host, PathRegex: re}
			if header != "" {
				name, value, _ := strings.Cut(header, ":")
				c.Header, c.HeaderValue = strings.TrimSpace(name), strings.TrimSpace(value)
				if c.Header == "" {
					return fmt.Errorf("--header %q: want 'Name: value' or 'Name'", header)
				}
			}
			return sf.create(cmd, f, &purgev1.CreatePurgeRequest{Kind: purgev1.PurgeKind_PURGE_KIND_CONDITION, Condition: c})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&host, "host", "", "host whose objects are purged (required)")
	fl.StringVar(&re, "path-regex", "", "RE2 regular expression the path must match (default: every path)")
	fl.StringVar(&header, "header", "", "response header the object must have: 'Name: value' or 'Name'")
	sf.register(cmd)
	return cmd
}

// waitDone follows WatchPurge (GetPurge polls against a server without it)
// until every expected node acknowledged or timeout.
func waitDone(ctx context.Context, f ClientFactory, p *purgev1.Purge, timeout time.Duration) (*purgev1.Purge, error) {
	deadline := time.Now().Add(timeout)
	if !done(p) {
		var err error
		p, err = watchDone(ctx, f, p, deadline)
		switch {
		case connect.CodeOf(err) == connect.CodeUnimplemented:
		case err != nil && !done(p) && time.Now().After(deadline):
			return p, fmt.Errorf("purge %s: only %d/%d nodes acknowledged within --timeout %s; see 'strata purge get %s'",
				p.GetId(), p.GetNodesDone(), p.GetNodesTotal(), timeout, p.GetId())
		case err != nil:
			return p, fmt.Errorf("purge %s: progress: %w", p.GetId(), err)
		}
	}
	for !done(p) {
		if time.Now().After(deadline) {
			return p, fmt.Errorf("purge %s: only %d/%d nodes acknowledged within --timeout %s; see 'strata purge get %s'",
				p.GetId(), p.GetNodesDone(), p.GetNodesTotal(), timeout, p.GetId())
		}
		select {
		case <-ctx.Done():
			return p, ctx.Err()
		case <-time.After(pollInterval):
		}
		resp, err := call(ctx, f, clientx.RPC(purgev1connect.PurgeServiceClient.GetPurge, &purgev1.GetPurgeRequest{Id: p.GetId()}))
		if err != nil {
			return p, fmt.Errorf("purge %s: progress: %w", p.GetId(), err)
		}
		p = resp.GetPurge()
	}
	var errs []error
	for _, a := range p.GetAcks() {
		if a.GetError() != "" {
			errs = append(errs, fmt.Errorf("node %s: %s", a.GetNodeId(), a.GetError()))
		}
	}
	if len(errs) > 0 {
		return p, fmt.Errorf("purge %s failed on some nodes: %w", p.GetId(), errors.Join(errs...))
	}
	return p, nil
}

// watchDone reads WatchPurge until the purge is done or the deadline.
func watchDone(ctx context.Context, f ClientFactory, p *purgev1.Purge, deadline time.Time) (*purgev1.Purge, error) {
	c, err := f.PurgeClient()
	if err != nil {
		return p, err
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	stream, err := c.WatchPurge(ctx, &purgev1.WatchPurgeRequest{Id: p.GetId()})
	if err != nil {
		return p, err
	}
	defer stream.Close()
	for stream.Receive() {
		if p = stream.Msg().GetPurge(); done(p) {
			return p, nil
		}
	}
	if err := stream.Err(); err != nil {
		return p, err
	}
	return p, ctx.Err()
}

// done: the service sets time_to_last_ack once every expected node acked.
func done(p *purgev1.Purge) bool { return p.GetTimeToLastAck() != nil }

func getCmd(f ClientFactory) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show a purge and its progress per node",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := call(cmd.Context(), f, clientx.RPC(purgev1connect.PurgeServiceClient.GetPurge, &purgev1.GetPurgeRequest{Id: args[0]}))
			if err != nil {
				return err
			}
			p := resp.GetPurge()
			return clientx.Emit(f, p, func(w io.Writer) error {
				fmt.Fprintf(w, "id: %s\nkind: %s\nvalues: %s\nsoft: %t\nscope: %s\nactor: %s\ncreated: %s\nnodes: %d/%d\n",
					p.GetId(), kindName(p.GetKind()), valuesText(p), p.GetSoft(), scopeName(p.GetScope()),
					clientx.OrDash(p.GetActor()), clientx.FmtTime(p.GetCreatedAt()), p.GetNodesDone(), p.GetNodesTotal())
				if d := p.GetTimeToLastAck(); d != nil {
					fmt.Fprintf(w, "time-to-last-ack: %d ms\n", d.AsDuration().Milliseconds())
				}
				rows := [][]string{{"NODE", "ACKED", "OBJECTS", "ERROR"}}
				for _, a := range p.GetAcks() {
					acked := "-"
					if a.GetAckedAt() != nil && p.GetCreatedAt() != nil {
						acked = "+" + strconv.FormatInt(a.GetAckedAt().AsTime().Sub(p.GetCreatedAt().AsTime()).Milliseconds(), 10) + " ms"
					}
					rows = append(rows, []string{a.GetNodeId(), acked, strconv.FormatInt(a.GetObjects(), 10), clientx.OrDash(a.GetError())})
				}
				return clientx.Table(w, rows)
			})
		},
	}
}

func listCmd(f ClientFactory) *cobra.Command {
	var pageSize int32
	var pageToken string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List purges, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return clientx.Show(cmd.Context(), f, f.PurgeClient, clientx.RPC(purgev1connect.PurgeServiceClient.ListPurges, &purgev1.ListPurgesRequest{PageSize: pageSize, PageToken: pageToken}), func(w io.Writer, resp *purgev1.ListPurgesResponse) error {
				rows := [][]string{{"ID", "KIND", "VALUES", "SOFT", "NODES", "CREATED"}}
				for _, p := range resp.GetPurges() {
					rows = append(rows, []string{p.GetId(), kindName(p.GetKind()), valuesText(p),
						strconv.FormatBool(p.GetSoft()), fmt.Sprintf("%d/%d", p.GetNodesDone(), p.GetNodesTotal()), clientx.FmtTime(p.GetCreatedAt())})
				}
				if err := clientx.Table(w, rows); err != nil {
					return err
				}
				if t := resp.GetNextPageToken(); t != "" {
					return clientx.Line(w, "next page: --page-token %s", t)
				}
				return nil
			})
		},
	}
	cmd.Flags().Int32Var(&pageSize, "page-size", 0, "purges per page (server default when 0)")
	cmd.Flags().StringVar(&pageToken, "page-token", "", "continue a previous list")
	return cmd
}

func kindName(k purgev1.PurgeKind) string {
	return strings.ToLower(strings.TrimPrefix(k.String(), "PURGE_KIND_"))
}

// valuesText is what a purge selects: its values, or its condition.
func valuesText(p *purgev1.Purge) string {
	c := p.GetCondition()
	if c == nil {
		return strings.Join(p.GetValues(), " ")
	}
	parts := []string{"host=" + c.GetHost()}
	if c.GetPathRegex() != "" {
		parts = append(parts, "path-regex="+c.GetPathRegex())
	}
	if c.GetHeader() != "" {
		h := c.GetHeader()
		if c.GetHeaderValue() != "" {
			h += ": " + c.GetHeaderValue()
		}
		parts = append(parts, "header="+h)
	}
	return strings.Join(parts, " ")
}

func scopeName(s *purgev1.Scope) string {
	switch t := s.GetTarget().(type) {
	case *purgev1.Scope_AppId:
		return "app " + t.AppId
	case *purgev1.Scope_PartitionId:
		return "partition " + t.PartitionId
	default:
		return "all"
	}
}
