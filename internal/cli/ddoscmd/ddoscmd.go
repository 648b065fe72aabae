// Package ddoscmd is the command line of the DDoS service: strata ddos
// policy show|set, release create|promote|list|revert (releasecmd), block,
// blocks and stats. The root command adds Commands(factory).
package ddoscmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	ddosv1 "github.com/strata-edge/strata/gen/strata/ddos/v1"
	"github.com/strata-edge/strata/gen/strata/ddos/v1/ddosv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
	"github.com/strata-edge/strata/internal/cli/releasecmd"
)

// ClientFactory is what the root command provides.
type ClientFactory interface {
	clientx.Env
	// DdosClient returns a DdosService client for --api, authenticated like
	// every other command.
	DdosClient() (ddosv1connect.DdosServiceClient, error)
}

// pollInterval is how often block --wait asks for progress.
const pollInterval = 50 * time.Millisecond

// maxListFileBytes bounds a --deny-file (the service takes 100,000
// entries, about 1 MiB of text in all).
const maxListFileBytes = 4 << 20

// Commands returns the top-level "ddos" command.
func Commands(f ClientFactory) []*cobra.Command {
	ddos := &cobra.Command{Use: "ddos", Short: "DDoS filtering on the nodes (XDP): cluster policies, immediate blocks, counters",
		Example: `  strata ddos policy set --cluster fra --enable --deny 203.0.113.0/24 --syn-rate 200 --syn-burst 400
  strata ddos release create --cluster fra --note "deny 203.0.113.0/24"
  strata ddos block 198.51.100.7 --ttl 10m --cluster fra --wait
  strata ddos stats --cluster fra`}
	policy := &cobra.Command{Use: "policy", Short: "Show or change a cluster's DDoS policy (the working copy; release it to the nodes)"}
	policy.AddCommand(showCmd(f), setCmd(f))
	release := &cobra.Command{Use: "release", Short: "Release a cluster's DDoS policy, promote staging releases, list releases, revert"}
	release.AddCommand(releasecmd.Commands(f, policyReleases(f))...)
	ddos.AddCommand(policy, release, blockCmd(f), blocksCmd(f), statsCmd(f))
	return []*cobra.Command{ddos}
}

func call[T any](cmd *cobra.Command, f ClientFactory, fn func(context.Context, ddosv1connect.DdosServiceClient) (T, error)) (T, error) {
	return clientx.Call(cmd.Context(), f, f.DdosClient, fn)
}

func show[T proto.Message](cmd *cobra.Command, f ClientFactory, fn func(context.Context, ddosv1connect.DdosServiceClient) (T, error), text func(io.Writer, T) error) error {
	return clientx.Show(cmd.Context(), f, f.DdosClient, fn, text)
}

func clusterFlag(cmd *cobra.Command, cluster *string) {
	cmd.Flags().StringVar(cluster, "cluster", "", "cluster id or name (required)")
	_ = cmd.MarkFlagRequired("cluster")
}

func showCmd(f ClientFactory) *cobra.Command {
	var cluster string
	cmd := &cobra.Command{
		Use:   "show --cluster C",
		Short: "Show a cluster's DDoS policy: the working copy and what the nodes run",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return show(cmd, f, clientx.RPC(ddosv1connect.DdosServiceClient.GetPolicy, &ddosv1.GetPolicyRequest{Cluster: cluster}), func(w io.Writer, res *ddosv1.GetPolicyResponse) error {
				fmt.Fprintf(w, "cluster: %s\nversion: %d\nlatest release: %d\npending changes: %d\n", res.GetPolicy().GetClusterId(), res.GetVersion(), res.GetLatestRelease(), res.GetPendingChanges())
				fmt.Fprintln(w, "working copy:")
				policyText(w, res.GetPolicy())
				if r := res.GetReleased(); r != nil {
					fmt.Fprintf(w, "released (release %d):\n", r.GetVersion())
					policyText(w, r)
				}
				return nil
			})
		},
	}
	clusterFlag(cmd, &cluster)
	return cmd
}

func policyText(w io.Writer, p *ddosv1.DdosPolicy) {
	rate := func(r *ddosv1.RateLimit) string {
		if r.GetPacketsPerSecond() == 0 {
			return "off"
		}
		b := r.GetBurst()
		if b == 0 {
			b = r.GetPacketsPerSecond()
		}
		return fmt.Sprintf("%d/s per source, burst %d", r.GetPacketsPerSecond(), b)
	}
	list := func(l []string) string {
		const shown = 10
		if len(l) == 0 {
			return "-"
		}
		if len(l) > shown {
			return fmt.Sprintf("%s ... (%d in all)", strings.Join(l[:shown], " "), len(l))
		}
		return strings.Join(l, " ")
	}
	fmt.Fprintf(w, "  enabled: %s\n  deny: %s\n  allow: %s\n  tcp syn: %s\n  udp dns: %s\n  icmp: %s\n  drop malformed: %s\n  drop fragments: %s\n  syn cookies: %s\n",
		clientx.YesNo(p.GetEnabled()), list(p.GetDenyCidrs()), list(p.GetAllowCidrs()), rate(p.GetTcpSyn()), rate(p.GetUdpDns()), rate(p.GetIcmp()),
		clientx.YesNo(p.GetDropMalformed()), clientx.YesNo(p.GetDropFragments()), clientx.YesNo(p.GetSynCookies()))
}

// rateFlags are one limit's --X-rate and --X-burst.
type rateFlags struct {
	name        string
	rate, burst uint32
}

func (r *rateFlags) register(cmd *cobra.Command, what string) {
	cmd.Flags().Uint32Var(&r.rate, r.name+"-rate", 0, what+": packets per second per source (0: off)")
	cmd.Flags().Uint32Var(&r.burst, r.name+"-burst", 0, what+": packets at once per source (0: one second of the rate)")
}

// apply sets the limit when either flag was given (the other keeps its
// value, except that a rate of 0 turns the limit off, burst included).
func (r *rateFlags) apply(cmd *cobra.Command, cur *ddosv1.RateLimit) *ddosv1.RateLimit {
	out := &ddosv1.RateLimit{PacketsPerSecond: cur.GetPacketsPerSecond(), Burst: cur.GetBurst()}
	if cmd.Flags().Changed(r.name + "-rate") {
		out.PacketsPerSecond = r.rate
		if r.rate == 0 {
			out.Burst = 0
		}
	}
	if cmd.Flags().Changed(r.name + "-burst") {
		out.Burst = r.burst
	}
	return out
}

func setCmd(f ClientFactory) *cobra.Command {
	var (
		cluster                       string
		deny, allow                   []string
		denyFile                      string
		syn                           = rateFlags{name: "syn"}
		dnsRate                       = rateFlags{name: "dns"}
		icmp                          = rateFlags{name: "icmp"}
		malformed, fragments, cookies bool
		enable, disable, clear, none  bool
		ev                            clientx.ExpectVersion
	)
	cmd := &cobra.Command{
		Use:   "set --cluster C [--deny CIDR]... [--deny-file FILE] [--allow CIDR]... [--syn-rate N --syn-burst N] [--dns-rate N --dns-burst N] [--icmp-rate N --icmp-burst N] [--drop-malformed] [--drop-fragments] [--syn-cookies] [--enable|--disable]",
		Short: "Change a cluster's DDoS policy (the working copy); prints the new version",
		Long: `Change the working copy of a cluster's DDoS policy; release it with
strata ddos release create --cluster C. Only the flags given change: --deny
(or --deny-file, one CIDR or address a line, # comments) and --allow replace
their list, --no-deny and --no-allow empty it; a rate flag sets that limit
(0 turns it off). --syn-cookies answers the SYNs over the SYN limit with a
SYN cookie from XDP instead of dropping them (needs --syn-rate), so
real clients over the limit still connect. Allowed sources pass before every other check. A policy
holds at most 100,000 deny entries and must fit in 1 MiB encoded (about
50,000 IPv4 host entries); wider prefixes take less.`,
		Example: `  strata ddos policy set --cluster fra --enable --deny 203.0.113.0/24 --deny 2001:db8:bad::/48
  strata ddos policy set --cluster fra --syn-rate 200 --syn-burst 400 --dns-rate 50 --drop-fragments
  strata ddos policy set --cluster fra --syn-rate 100 --syn-cookies
  strata ddos policy set --cluster fra --deny-file blocklist.txt
  strata ddos policy set --cluster fra --disable`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fl := cmd.Flags()
			if enable && disable {
				return errors.New("--enable and --disable: give one")
			}
			if (fl.Changed("deny") || denyFile != "") && clear {
				return errors.New("--deny/--deny-file and --no-deny: give one")
			}
			if fl.Changed("allow") && none {
				return errors.New("--allow and --no-allow: give one")
			}
			if denyFile != "" {
				lines, err := readList(denyFile)
				if err != nil {
					return err
				}
				deny = append(deny, lines...)
			}
			cur, err := call(cmd, f, clientx.RPC(ddosv1connect.DdosServiceClient.GetPolicy, &ddosv1.GetPolicyRequest{Cluster: cluster}))
			if err != nil {
				return err
			}
			p := proto.Clone(cur.GetPolicy()).(*ddosv1.DdosPolicy)
			switch {
			case enable:
				p.Enabled = true
			case disable:
				p.Enabled = false
			}
			switch {
			case clear:
				p.DenyCidrs = nil
			case fl.Changed("deny") || denyFile != "":
				p.DenyCidrs = deny
			}
			switch {
			case none:
				p.AllowCidrs = nil
			case fl.Changed("allow"):
				p.AllowCidrs = allow
			}
			p.TcpSyn, p.UdpDns, p.Icmp = syn.apply(cmd, p.GetTcpSyn()), dnsRate.apply(cmd, p.GetUdpDns()), icmp.apply(cmd, p.GetIcmp())
			if fl.Changed("drop-malformed") {
				p.DropMalformed = malformed
			}
			if fl.Changed("drop-fragments") {
				p.DropFragments = fragments
			}
			if fl.Changed("syn-cookies") {
				p.SynCookies = cookies
			}
			return show(cmd, f, clientx.RPC(ddosv1connect.DdosServiceClient.UpdatePolicy, &ddosv1.UpdatePolicyRequest{Cluster: cluster, Policy: p,
				ExpectedVersion: ev.OrRead(cmd, cur.GetVersion())}), func(w io.Writer, res *ddosv1.UpdatePolicyResponse) error {
				return clientx.Line(w, "%d", res.GetVersion())
			})
		},
	}
	clusterFlag(cmd, &cluster)
	fl := cmd.Flags()
	fl.StringArrayVar(&deny, "deny", nil, "`CIDR` (or address) whose packets are dropped (repeatable; replaces the list)")
	fl.StringVar(&denyFile, "deny-file", "", "`FILE` of deny CIDRs, one a line (replaces the list, with the --deny ones)")
	fl.BoolVar(&clear, "no-deny", false, "empty the deny list")
	fl.StringArrayVar(&allow, "allow", nil, "`CIDR` (or address) that always passes (repeatable; replaces the list)")
	fl.BoolVar(&none, "no-allow", false, "empty the allow list")
	syn.register(cmd, "TCP SYN")
	dnsRate.register(cmd, "UDP to port 53")
	icmp.register(cmd, "ICMP echo requests")
	fl.BoolVar(&malformed, "drop-malformed", false, "drop packets with malformed headers (--drop-malformed=false: pass them)")
	fl.BoolVar(&fragments, "drop-fragments", false, "drop IP fragments (--drop-fragments=false: pass them)")
	fl.BoolVar(&cookies, "syn-cookies", false, "answer the SYNs over the SYN limit with SYN cookies from XDP, not drops (--syn-cookies=false: drop them)")
	fl.BoolVar(&enable, "enable", false, "turn the policy on")
	fl.BoolVar(&disable, "disable", false, "turn the policy off: the filter passes everything it would drop")
	ev.Register(fl, "policy")
	return cmd
}

// readList reads one entry a line, skipping blank lines and # comments.
func readList(path string) ([]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--deny-file: %w", err)
	}
	defer fh.Close()
	if st, err := fh.Stat(); err == nil && st.Size() > maxListFileBytes {
		return nil, fmt.Errorf("--deny-file %s: %d bytes, more than the limit of %d", path, st.Size(), maxListFileBytes)
	}
	var out []string
	sc := bufio.NewScanner(io.LimitReader(fh, maxListFileBytes))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--deny-file %s: %w", path, err)
	}
	return out, nil
}

func policyReleases(f ClientFactory) releasecmd.Kind {
	create := func(cmd *cobra.Command, r releasecmd.Request) (proto.Message, uint64, error) {
		res, err := call(cmd, f, clientx.RPC(ddosv1connect.DdosServiceClient.CreateRelease, &ddosv1.CreateReleaseRequest{Cluster: r.ID, ExpectedVersion: r.Expected, Note: r.Note, Staging: r.Staging}))
		return res, res.GetRelease().GetNumber(), err
	}
	promote := func(cmd *cobra.Command, r releasecmd.Request) (proto.Message, uint64, error) {
		res, err := call(cmd, f, clientx.RPC(ddosv1connect.DdosServiceClient.PromoteRelease, &ddosv1.PromoteReleaseRequest{Cluster: r.ID, ExpectedVersion: r.Expected, Note: r.Note}))
		return res, res.GetRelease().GetNumber(), err
	}
	revert := func(cmd *cobra.Command, r releasecmd.Request) (proto.Message, uint64, error) {
		res, err := call(cmd, f, clientx.RPC(ddosv1connect.DdosServiceClient.RevertPolicy, &ddosv1.RevertPolicyRequest{Cluster: r.ID, ExpectedVersion: r.Expected, ToRelease: r.To, Note: r.Note}))
		return res, res.GetRelease().GetNumber(), err
	}
	list := func(cmd *cobra.Command, id string) (proto.Message, releasecmd.List, error) {
		res, err := call(cmd, f, clientx.Pages(ddosv1connect.DdosServiceClient.ListReleases, &ddosv1.ListReleasesRequest{Cluster: id}, nil))
		l := releasecmd.List{Releases: releasecmd.Records(res.GetReleases(), true), Stable: res.GetStableRelease(), Staging: res.GetStagingRelease()}
		return res, l, err
	}
	return releasecmd.Kind{Noun: "cluster", Command: "strata ddos release", Create: create, Promote: promote, Revert: revert, List: list}
}

func blockCmd(f ClientFactory) *cobra.Command {
	var (
		cluster string
		ttl     time.Duration
		wait    bool
	)
	cmd := &cobra.Command{
		Use:   "block CIDR... --ttl 10m [--cluster C] [--wait]",
		Short: "Drop traffic from sources on the nodes at once, for a while (no release); prints the block id",
		Long: `Drop every packet from the CIDRs (or addresses) on the nodes of a cluster, or of
every cluster without --cluster, for --ttl (1s to 168h), on top of the
policy; allowed sources still pass. A block is a command, not a release: each
node applies it at once and acknowledges it; a node that comes back within
the ttl applies it for the time left. With --wait the command returns when
every node that was online has acknowledged (at most --timeout), and fails
naming the nodes that could not apply it (a node without XDP says so).`,
		Example: `  strata ddos block 198.51.100.7 203.0.113.0/24 --ttl 10m --cluster fra --wait`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("missing argument: at least one CIDR to block")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &ddosv1.BlockRequest{Cidrs: args, Ttl: durationpb.New(ttl), Scope: &ddosv1.BlockScope{Target: &ddosv1.BlockScope_All{All: true}}}
			if cluster != "" {
				req.Scope.Target = &ddosv1.BlockScope_Cluster{Cluster: cluster}
			}
			res, err := call(cmd, f, clientx.RPC(ddosv1connect.DdosServiceClient.Block, req))
			if err != nil {
				return err
			}
			b := res.GetBlock()
			if wait {
				if b, err = waitDone(cmd, f, b); err != nil {
					return err
				}
			}
			return clientx.Emit(f, b, func(w io.Writer) error {
				if !wait {
					return clientx.Line(w, "%s", b.GetId())
				}
				return clientx.Line(w, "%s: blocked on %d/%d nodes until %s", b.GetId(), b.GetNodesDone(), b.GetNodesTotal(), clientx.FmtTime(b.GetExpiresAt()))
			})
		},
	}
	fl := cmd.Flags()
	fl.DurationVar(&ttl, "ttl", 0, "how long the block lasts, 1s to 168h (required)")
	_ = cmd.MarkFlagRequired("ttl")
	fl.StringVar(&cluster, "cluster", "", "block on this cluster's nodes only (id or name; default: every cluster)")
	fl.BoolVar(&wait, "wait", false, "return when every expected node has acknowledged")
	return cmd
}

// waitDone polls GetBlock until every expected node acknowledged or
// --timeout; a node's error fails the command.
func waitDone(cmd *cobra.Command, f ClientFactory, b *ddosv1.Block) (*ddosv1.Block, error) {
	deadline := time.Now().Add(f.Timeout())
	for b.GetNodesDone() < b.GetNodesTotal() {
		if time.Now().After(deadline) {
			return b, fmt.Errorf("block %s: only %d/%d nodes acknowledged within --timeout %s; see 'strata ddos blocks'",
				b.GetId(), b.GetNodesDone(), b.GetNodesTotal(), f.Timeout())
		}
		select {
		case <-cmd.Context().Done():
			return b, cmd.Context().Err()
		case <-time.After(pollInterval):
		}
		res, err := call(cmd, f, clientx.RPC(ddosv1connect.DdosServiceClient.GetBlock, &ddosv1.GetBlockRequest{Id: b.GetId()}))
		if err != nil {
			return b, fmt.Errorf("block %s: progress: %w", b.GetId(), err)
		}
		b = res.GetBlock()
	}
	var errs []error
	for _, a := range b.GetAcks() {
		if a.GetError() != "" {
			errs = append(errs, fmt.Errorf("node %s: %s", a.GetNodeId(), a.GetError()))
		}
	}
	if len(errs) > 0 {
		return b, fmt.Errorf("block %s failed on some nodes: %w", b.GetId(), errors.Join(errs...))
	}
	return b, nil
}

func scopeText(s *ddosv1.BlockScope) string {
	if c := s.GetCluster(); c != "" {
		return c
	}
	return "all"
}

func blocksCmd(f ClientFactory) *cobra.Command {
	var n int32
	var filter string
	cmd := &cobra.Command{
		Use:   "blocks [--limit N] [--filter F]",
		Short: "List blocks, newest first, with their progress",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return show(cmd, f, clientx.RPC(ddosv1connect.DdosServiceClient.ListBlocks, &ddosv1.ListBlocksRequest{PageSize: n, Filter: filter}), func(w io.Writer, res *ddosv1.ListBlocksResponse) error {
				rows := [][]string{{"ID", "CIDRS", "SCOPE", "EXPIRES", "NODES", "ERRORS", "ACTOR"}}
				for _, b := range res.GetBlocks() {
					errs := 0
					for _, a := range b.GetAcks() {
						if a.GetError() != "" {
							errs++
						}
					}
					cidrs := strings.Join(b.GetCidrs(), " ")
					if len(b.GetCidrs()) > 3 {
						cidrs = fmt.Sprintf("%s ... (%d)", strings.Join(b.GetCidrs()[:3], " "), len(b.GetCidrs()))
					}
					rows = append(rows, []string{b.GetId(), cidrs, scopeText(b.GetScope()), clientx.FmtTime(b.GetExpiresAt()),
						fmt.Sprintf("%d/%d", b.GetNodesDone(), b.GetNodesTotal()), strconv.Itoa(errs), clientx.OrDash(b.GetActor())})
				}
				return clientx.Table(w, rows)
			})
		},
	}
	cmd.Flags().Int32Var(&n, "limit", 0, "at most N blocks (default 100, at most 1000)")
	cmd.Flags().StringVar(&filter, "filter", "", `AIP-160 filter, e.g. 'cidrs:"10.0.0.0/8" AND done = false' (docs/api.md, "Filtering")`)
	return cmd
}

func statsCmd(f ClientFactory) *cobra.Command {
	var cluster string
	cmd := &cobra.Command{
		Use:   "stats [--cluster C]",
		Short: "Show each node's XDP filter: attached or why not, and its counters by reason",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return show(cmd, f, clientx.RPC(ddosv1connect.DdosServiceClient.GetStats, &ddosv1.GetStatsRequest{Cluster: cluster}), func(w io.Writer, res *ddosv1.GetStatsResponse) error {
				rows := [][]string{{"NODE", "CLUSTER", "ATTACHED", "REPORTED", "COUNTERS", "DETAIL"}}
				for _, r := range res.GetNodes() {
					keys := make([]string, 0, len(r.GetCounters()))
					for k := range r.GetCounters() {
						keys = append(keys, k)
					}
					sort.Strings(keys)
					var cs []string
					for _, k := range keys {
						cs = append(cs, fmt.Sprintf("%s=%d", k, r.GetCounters()[k]))
					}
					rows = append(rows, []string{r.GetNodeId(), clientx.OrDash(r.GetClusterId()), clientx.YesNo(r.GetAttached()),
						clientx.FmtTime(r.GetReportedAt()), clientx.OrDash(strings.Join(cs, " ")), clientx.OrDash(r.GetDetail())})
				}
				return clientx.Table(w, rows)
			})
		},
	}
	cmd.Flags().StringVar(&cluster, "cluster", "", "one cluster's nodes (id or name; default: every node)")
	return cmd
}
