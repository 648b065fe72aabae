package purgecmd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
	"github.com/strata-edge/strata/gen/strata/purge/v1/purgev1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
)

// cacheCmd is "strata cache push", "push get" and "push list".
func cacheCmd(f ClientFactory) *cobra.Command {
	c := &cobra.Command{
		Use:   "cache",
		Short: "Work with the nodes' HTTP caches (push URLs into them; purges are 'strata purge')",
	}
	c.AddCommand(pushCmd(f))
	return c
}

func pushCmd(f ClientFactory) *cobra.Command {
	var (
		app, fromFile string
		clusters      []string
		concurrency   int32
		wait          bool
	)
	cmd := &cobra.Command{
		Use:   "push --app APP URL... [--from-file FILE] [--cluster C]... [--concurrency N] [--wait]",
		Short: "Have every node fetch URLs into its cache before users ask",
		Long: `Have every node of the app's partitions (or of the clusters named by
--cluster) fetch URLs into its cache through its own proxy: the app's cache
rules, cache key, tier parents and upstreams apply as for a client's GET.
A URL whose response the cache does not keep (no cache rule, no-store, an
error status) is reported as a failure with its reason.

URLs are absolute http/https URLs of the app's domains, given as arguments
and/or in --from-file (one per line, # comments, - for stdin): at most 10000
per push, 2048 bytes each. A node that was offline runs the push when it is
back, unless the push is more than an hour old.

With --wait the command returns when every node that was online when the
push was created has acknowledged it (at most --timeout), printing the nodes
done and each failed URL; it exits 1 when a URL failed on some node.`,
		Example: `  strata cache push --app shop https://shop.example.com/app.css https://shop.example.com/logo.png --wait
  strata cache push --app shop --from-file urls.txt --cluster edge-eu --concurrency 8
  strata cache push get psh_... --wait
  strata cache push list`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if app == "" {
				return fmt.Errorf("--app is required")
			}
			urls := args
			if fromFile != "" {
				more, err := readURLs(f, fromFile)
				if err != nil {
					return err
				}
				urls = append(urls, more...)
			}
			if len(urls) == 0 {
				return fmt.Errorf("no URL: give URLs as arguments or with --from-file")
			}
			req := &purgev1.CreatePushRequest{AppId: app, Urls: urls, ClusterIds: clusters, Concurrency: concurrency}
			resp, err := call(cmd.Context(), f, clientx.RPC(purgev1connect.PurgeServiceClient.CreatePush, req))
			if err != nil {
				return err
			}
			return showPush(cmd.Context(), f, resp.GetPush(), wait)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&app, "app", "", "the app whose URLs these are, id or name (required)")
	fl.StringVar(&fromFile, "from-file", "", "read URLs from `FILE`, one per line (- for stdin)")
	fl.StringSliceVar(&clusters, "cluster", nil, "only the nodes of this cluster (id or name; repeatable)")
	fl.Int32Var(&concurrency, "concurrency", 0, "URLs each node fetches at once, 1-32 (server default 4 when 0)")
	fl.BoolVar(&wait, "wait", false, "return when every expected node has acknowledged, listing failed URLs")
	cmd.AddCommand(pushGetCmd(f), pushListCmd(f))
	return cmd
}

// readURLs reads a --from-file list.
func readURLs(f ClientFactory, name string) ([]string, error) {
	var r io.Reader = f.Stdin()
	if name != "-" {
		file, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("--from-file: %w", err)
		}
		defer file.Close()
		r = file
	}
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--from-file %s: %w", name, err)
	}
	return out, nil
}

// showPush waits for p when wait (printing progress on stderr), then prints
// it; it fails when a URL or a node failed.
func showPush(ctx context.Context, f ClientFactory, p *purgev1.Push, wait bool) error {
	var waitErr error
	if wait {
		p, waitErr = waitPush(ctx, f, p, f.Timeout())
	}
	err := clientx.Emit(f, p, func(w io.Writer) error {
		if !wait {
			return clientx.Line(w, "%s", p.GetId())
		}
		return pushText(w, p)
	})
	if err != nil {
		return err
	}
	if waitErr != nil {
		return waitErr
	}
	if wait {
		return pushFailed(p)
	}
	return nil
}

// waitPush polls GetPush until every expected node acknowledged or timeout.
func waitPush(ctx context.Context, f ClientFactory, p *purgev1.Push, timeout time.Duration) (*purgev1.Push, error) {
	deadline := time.Now().Add(timeout)
	last := int32(-1)
	for p.GetTimeToLastAck() == nil {
		if p.GetNodesDone() != last && !f.JSON() {
			last = p.GetNodesDone()
			fmt.Fprintf(f.Stderr(), "%s: %d/%d nodes done\n", p.GetId(), p.GetNodesDone(), p.GetNodesTotal())
		}
		if time.Now().After(deadline) {
			return p, fmt.Errorf("push %s: only %d/%d nodes acknowledged within --timeout %s; see 'strata cache push get %s'",
				p.GetId(), p.GetNodesDone(), p.GetNodesTotal(), timeout, p.GetId())
		}
		select {
		case <-ctx.Done():
			return p, ctx.Err()
		case <-time.After(pollInterval):
		}
		resp, err := call(ctx, f, clientx.RPC(purgev1connect.PurgeServiceClient.GetPush, &purgev1.GetPushRequest{Id: p.GetId()}))
		if err != nil {
			return p, fmt.Errorf("push %s: progress: %w", p.GetId(), err)
		}
		p = resp.GetPush()
	}
	return p, nil
}

// pushFailed is the error of a push some node or URL failed on.
func pushFailed(p *purgev1.Push) error {
	nodes := 0
	for _, a := range p.GetAcks() {
		if a.GetError() != "" {
			nodes++
		}
	}
	switch {
	case nodes > 0:
		return fmt.Errorf("push %s failed on %d nodes and %d URL fetches failed", p.GetId(), nodes, p.GetUrlsFailed())
	case p.GetUrlsFailed() > 0:
		return fmt.Errorf("push %s: %d URL fetches failed (listed above)", p.GetId(), p.GetUrlsFailed())
	}
	return nil
}

// pushText is a push with its per-node counts and failed URLs.
func pushText(w io.Writer, p *purgev1.Push) error {
	var cached int32
	for _, a := range p.GetAcks() {
		cached += a.GetPush().GetCached()
	}
	fmt.Fprintf(w, "%s: pushed %d URLs on %d/%d nodes", p.GetId(), p.GetUrlCount(), p.GetNodesDone(), p.GetNodesTotal())
	if d := p.GetTimeToLastAck(); d != nil {
		fmt.Fprintf(w, " in %d ms", d.AsDuration().Milliseconds())
	}
	fmt.Fprintf(w, ": %d cached, %d failed\n", cached, p.GetUrlsFailed())
	rows := [][]string{{"NODE", "CACHED", "FAILED", "BYTES", "ERROR"}}
	var failures [][]string
	for _, a := range p.GetAcks() {
		r := a.GetPush()
		rows = append(rows, []string{a.GetNodeId(), strconv.Itoa(int(r.GetCached())), strconv.Itoa(int(r.GetFailed())),
			strconv.FormatInt(r.GetBytes(), 10), clientx.OrDash(a.GetError())})
		for _, u := range r.GetFailures() {
			status := "-"
			if u.GetStatus() != 0 {
				status = strconv.Itoa(int(u.GetStatus()))
			}
			failures = append(failures, []string{a.GetNodeId(), u.GetUrl(), status, u.GetError()})
		}
		if n := int(r.GetFailed()) - len(r.GetFailures()); n > 0 {
			failures = append(failures, []string{a.GetNodeId(), fmt.Sprintf("(%d more not listed)", n), "", ""})
		}
	}
	if err := clientx.Table(w, rows); err != nil {
		return err
	}
	if len(failures) == 0 {
		return nil
	}
	fmt.Fprintln(w, "failed URLs:")
	return clientx.Table(w, append([][]string{{"NODE", "URL", "STATUS", "ERROR"}}, failures...))
}

func pushGetCmd(f ClientFactory) *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "get ID [--wait]",
		Short: "Show a push and its results per node (failed URLs listed)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := call(cmd.Context(), f, clientx.RPC(purgev1connect.PurgeServiceClient.GetPush, &purgev1.GetPushRequest{Id: args[0]}))
			if err != nil {
				return err
			}
			p := resp.GetPush()
			if wait {
				return showPush(cmd.Context(), f, p, true)
			}
			return clientx.Emit(f, p, func(w io.Writer) error {
				fmt.Fprintf(w, "id: %s\napp: %s\nurls: %d\nclusters: %s\nconcurrency: %d\nactor: %s\ncreated: %s\nexpires: %s\n",
					p.GetId(), p.GetAppId(), p.GetUrlCount(), clientx.OrDash(strings.Join(p.GetClusterIds(), ", ")), p.GetConcurrency(),
					clientx.OrDash(p.GetActor()), clientx.FmtTime(p.GetCreatedAt()), clientx.FmtTime(p.GetExpiresAt()))
				return pushText(w, p)
			})
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "return when every expected node has acknowledged")
	return cmd
}

func pushListCmd(f ClientFactory) *cobra.Command {
	var pageSize int32
	var pageToken string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List pushes, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return clientx.Show(cmd.Context(), f, f.PurgeClient, clientx.RPC(purgev1connect.PurgeServiceClient.ListPushes, &purgev1.ListPushesRequest{PageSize: pageSize, PageToken: pageToken}), func(w io.Writer, resp *purgev1.ListPushesResponse) error {
				rows := [][]string{{"ID", "APP", "URLS", "NODES", "FAILED", "CREATED"}}
				for _, p := range resp.GetPushes() {
					rows = append(rows, []string{p.GetId(), p.GetAppId(), strconv.Itoa(int(p.GetUrlCount())),
						fmt.Sprintf("%d/%d", p.GetNodesDone(), p.GetNodesTotal()), strconv.Itoa(int(p.GetUrlsFailed())), clientx.FmtTime(p.GetCreatedAt())})
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
	cmd.Flags().Int32Var(&pageSize, "page-size", 0, "pushes per page (server default when 0)")
	cmd.Flags().StringVar(&pageToken, "page-token", "", "continue a previous list")
	return cmd
}
