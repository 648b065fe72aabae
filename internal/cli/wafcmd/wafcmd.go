// Package wafcmd is the command line of the WAF service: strata waf policy
// create|update|show|list|delete|attach|detach|release|promote|releases|revert,
// strata waf rule add|update|remove|list, strata waf hits [--follow] and
// strata waf stats, strata waf challenge-key rotate. The root command adds
// Commands(factory).
package wafcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/gen/strata/metrics/v1/metricsv1connect"
	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/gen/strata/waf/v1/wafv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
)

// ClientFactory is what the root command provides.
type ClientFactory interface {
	clientx.Env
	// WafClient returns a WafService client for --api, authenticated like
	// every other command; WafStreamClient one without an overall timeout
	// (hits --follow runs until Ctrl-C).
	WafClient() (wafv1connect.WafServiceClient, error)
	WafStreamClient() (wafv1connect.WafServiceClient, error)
	// AppClient is the config service's (attach and detach update apps).
	AppClient() (configv1connect.ConfigServiceClient, error)
	// MetricsClient is the metrics service's (stats --since).
	MetricsClient() (metricsv1connect.MetricsServiceClient, error)
}

// maxPolicyFileBytes bounds a --file (1000 rules of 4 KiB fit).
const maxPolicyFileBytes = 8 << 20

// Commands returns the top-level "waf" command.
func Commands(f ClientFactory) []*cobra.Command {
	waf := &cobra.Command{Use: "waf", Short: "Web application firewall: policies (OWASP CRS + custom rules), attached to apps, and the hit log",
		Example: `  strata waf policy create strict --mode block --paranoia 1
  strata waf rule add --policy strict --id block-admin --when 'PathPrefix("/admin")' --action block
  strata waf policy release strict --note "first"
  strata waf policy attach strict --app shop && strata release create --app shop
  strata waf hits --app shop --follow
  strata waf stats --app shop`}
	policy := &cobra.Command{Use: "policy", Short: "Create, change, release and attach WAF policies"}
	policy.AddCommand(createCmd(f), updateCmd(f), showCmd(f), listCmd(f), deleteCmd(f), attachCmd(f, true), attachCmd(f, false),
		releaseCmd(f), promoteCmd(f), releasesCmd(f), revertCmd(f))
	rule := &cobra.Command{Use: "rule", Short: "Custom rules of a policy (Strata's rule language, evaluated before the Core Rule Set)"}
	rule.AddCommand(ruleAddCmd(f), ruleUpdateCmd(f), ruleRemoveCmd(f), ruleListCmd(f))
	waf.AddCommand(policy, rule, hitsCmd(f), statsCmd(f), challengeKeyCmd(f))
	return []*cobra.Command{waf}
}

func call[T any](cmd *cobra.Command, f ClientFactory, fn func(context.Context, wafv1connect.WafServiceClient) (T, error)) (T, error) {
	return clientx.Call(cmd.Context(), f, f.WafClient, fn)
}

func show[T proto.Message](cmd *cobra.Command, f ClientFactory, fn func(context.Context, wafv1connect.WafServiceClient) (T, error), text func(io.Writer, T) error) error {
	return clientx.Show(cmd.Context(), f, f.WafClient, fn, text)
}

// policyFlags are the settings flags of create and update; only the ones
// given change a policy.
type policyFlags struct {
	file                        string
	mode                        string
	paranoia, inbound, outbound uint32
	partitions                  []string
	labels                      []string
	crsOff, responses           bool
	responseLimit               uint32
	body                        bool
	bodyLimit                   uint32
	bodyTypes                   []string
	disableIDs, disableTags     []string
	skipExt, skipPrefix         []string
	skipWhen                    string
	noExclusions                bool
}

func (p *policyFlags) register(fl *pflag.FlagSet) {
	fl.StringVarP(&p.file, "file", "f", "", "`FILE` with the whole policy as JSON (a WafPolicy; the flags then change it)")
	fl.StringVar(&p.mode, "mode", "", "off, detect (log only) or block")
	fl.Uint32Var(&p.paranoia, "paranoia", 0, "OWASP CRS paranoia level 1-4")
	fl.Uint32Var(&p.inbound, "inbound-threshold", 0, "inbound anomaly score that blocks (0: the CRS default, 5)")
	fl.Uint32Var(&p.outbound, "outbound-threshold", 0, "outbound anomaly score (0: the CRS default, 4)")
	fl.StringArrayVar(&p.partitions, "partition", nil, "partition id or name whose nodes get the policy (repeatable; replaces the list; none: every partition)")
	fl.StringArrayVar(&p.labels, "label", nil, "label `k=v` (repeatable; replaces the labels)")
	fl.BoolVar(&p.crsOff, "crs-off", false, "run the custom rules only, not the Core Rule Set (--crs-off=false: run it)")
	fl.BoolVar(&p.responses, "inspect-responses", false, "inspect upstream responses too (RESPONSE-95x rules; buffers up to --response-body-limit of each; --inspect-responses=false: do not)")
	fl.Uint32Var(&p.responseLimit, "response-body-limit", 0, "bytes of a response body inspected (default 131072, at most 10485760; turns --inspect-responses on)")
	fl.BoolVar(&p.body, "inspect-body", false, "inspect request bodies (--inspect-body=false: do not)")
	fl.Uint32Var(&p.bodyLimit, "body-limit", 0, "bytes of a body inspected (default 131072, at most 10485760)")
	fl.StringSliceVar(&p.bodyTypes, "body-types", nil, "bodies parsed: json,xml,multipart (default all three)")
	fl.StringArrayVar(&p.disableIDs, "disable-rule", nil, "CRS rule id or range (942100-942999) switched off everywhere (repeatable; adds an exclusion)")
	fl.StringArrayVar(&p.disableTags, "disable-tag", nil, "CRS rule tag (attack-sqli) switched off everywhere (repeatable; adds an exclusion)")
	fl.BoolVar(&p.noExclusions, "no-exclusions", false, "remove every exclusion first")
	fl.StringArrayVar(&p.skipExt, "skip-ext", nil, "file extension the WAF skips (css, png; repeatable; replaces the list)")
	fl.StringArrayVar(&p.skipPrefix, "skip-prefix", nil, "path prefix the WAF skips (repeatable; replaces the list)")
	fl.StringVar(&p.skipWhen, "skip-when", "", "rule-language condition whose requests the WAF skips")
}

var modes = map[string]wafv1.WafMode{"off": wafv1.WafMode_WAF_MODE_OFF, "detect": wafv1.WafMode_WAF_MODE_DETECT, "block": wafv1.WafMode_WAF_MODE_BLOCK}

// apply changes p by the flags given.
func (pf *policyFlags) apply(fl *pflag.FlagSet, p *wafv1.WafPolicy) error {
	if fl.Changed("mode") {
		m, ok := modes[pf.mode]
		if !ok {
			return fmt.Errorf("--mode %q: off, detect or block", pf.mode)
		}
		p.Mode = m
	}
	if fl.Changed("paranoia") {
		p.ParanoiaLevel = pf.paranoia
	}
	if fl.Changed("inbound-threshold") {
		p.InboundThreshold = pf.inbound
	}
	if fl.Changed("outbound-threshold") {
		p.OutboundThreshold = pf.outbound
	}
	if fl.Changed("partition") {
		p.PartitionIds = pf.partitions
	}
	if fl.Changed("label") {
		p.Labels = map[string]string{}
		for _, kv := range pf.labels {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return fmt.Errorf("--label %q: k=v", kv)
			}
			p.Labels[k] = v
		}
	}
	if fl.Changed("crs-off") {
		p.CrsDisabled = pf.crsOff
	}
	if fl.Changed("inspect-responses") {
		p.InspectResponses = pf.responses
	} else if fl.Changed("response-body-limit") {
		p.InspectResponses = true
	}
	if fl.Changed("response-body-limit") {
		p.ResponseBodyLimitBytes = pf.responseLimit
	}
	if !p.InspectResponses {
		p.ResponseBodyLimitBytes = 0 // only meaningful with responses inspected
	}
	if fl.Changed("inspect-body") || fl.Changed("body-limit") || fl.Changed("body-types") {
		b := proto.Clone(p.GetRequestBody()).(*wafv1.BodyInspection)
		if b == nil {
			b = &wafv1.BodyInspection{}
		}
		if fl.Changed("inspect-body") {
			b.Enabled = pf.body
		} else {
			b.Enabled = true
		}
		if fl.Changed("body-limit") {
			b.LimitBytes = pf.bodyLimit
		}
		if fl.Changed("body-types") {
			b.Json, b.Xml, b.Multipart = false, false, false
			for _, t := range pf.bodyTypes {
				switch t {
				case "json":
					b.Json = true
				case "xml":
					b.Xml = true
				case "multipart":
					b.Multipart = true
				default:
					return fmt.Errorf("--body-types %q: json, xml or multipart", t)
				}
			}
		}
		if !b.Enabled {
			b = nil
		}
		p.RequestBody = b
	}
	if pf.noExclusions {
		p.Exclusions = nil
	}
	if len(pf.disableIDs) > 0 || len(pf.disableTags) > 0 {
		p.Exclusions = append(p.Exclusions, &wafv1.RuleExclusion{RuleIds: pf.disableIDs, Tags: pf.disableTags})
	}
	if fl.Changed("skip-ext") || fl.Changed("skip-prefix") || fl.Changed("skip-when") {
		w := proto.Clone(p.GetWhitelist()).(*wafv1.Whitelist)
		if w == nil {
			w = &wafv1.Whitelist{}
		}
		if fl.Changed("skip-ext") {
			w.Extensions = pf.skipExt
		}
		if fl.Changed("skip-prefix") {
			w.PathPrefixes = pf.skipPrefix
		}
		if fl.Changed("skip-when") {
			w.When = pf.skipWhen
		}
		p.Whitelist = w
	}
	return nil
}

// readPolicy reads a WafPolicy from a JSON file ("-": stdin).
func readPolicy(f ClientFactory, path string) (*wafv1.WafPolicy, error) {
	var r io.Reader = f.Stdin()
	if path != "-" {
		fh, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("--file: %w", err)
		}
		defer fh.Close()
		r = fh
	}
	data, err := io.ReadAll(io.LimitReader(r, maxPolicyFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("--file: %w", err)
	}
	if len(data) > maxPolicyFileBytes {
		return nil, fmt.Errorf("--file %s: more than %d bytes", path, maxPolicyFileBytes)
	}
	p := &wafv1.WafPolicy{}
	if err := protojson.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("--file %s: not a WAF policy in JSON: %w", path, err)
	}
	return p, nil
}

func createCmd(f ClientFactory) *cobra.Command {
	var pf policyFlags
	var dry bool
	cmd := &cobra.Command{
		Use:   "create NAME [--mode off|detect|block] [--paranoia N] [--file policy.json] [flags]",
		Short: "Create a WAF policy (its working copy; release it with strata waf policy release); prints its id",
		Long: `Create a WAF policy. A new policy is in mode off unless --mode says otherwise;
detect logs what the rules flag, block also refuses it (403). The Core Rule
Set runs at --paranoia (1-4, default 1) unless --crs-off; custom rules are
added with strata waf rule add. Nothing reaches a node before
strata waf policy release, and an app uses the policy only once it is
attached (strata waf policy attach) and the app released.`,
		Example: `  strata waf policy create strict --mode block --paranoia 2 --skip-ext css --skip-ext png
  strata waf policy create api --mode detect --inspect-body --body-types json --disable-tag attack-rce
  strata waf policy create leaks --mode block --inspect-responses --response-body-limit 65536
  strata waf policy create imported --file policy.json --validate-only`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			p := &wafv1.WafPolicy{}
			if pf.file != "" {
				var err error
				if p, err = readPolicy(f, pf.file); err != nil {
					return err
				}
			}
			p.Name = a[0]
			if err := pf.apply(cmd.Flags(), p); err != nil {
				return err
			}
			return show(cmd, f, clientx.RPC(wafv1connect.WafServiceClient.CreatePolicy, &wafv1.CreatePolicyRequest{Policy: p, ValidateOnly: dry}),
				func(w io.Writer, res *wafv1.CreatePolicyResponse) error {
					if dry {
						return clientx.Line(w, "valid")
					}
					return clientx.Line(w, "%s", res.GetPolicy().GetId())
				})
		},
	}
	pf.register(cmd.Flags())
	cmd.Flags().BoolVar(&dry, "validate-only", false, "check the policy (and compile it) without storing it")
	return cmd
}

// edit reads policy ref, changes it with change and writes it back with
// the version read (or --expect-version).
func edit(cmd *cobra.Command, f ClientFactory, ref string, ev *clientx.ExpectVersion, dry bool, change func(p *wafv1.WafPolicy) error) error {
	cur, err := call(cmd, f, clientx.RPC(wafv1connect.WafServiceClient.GetPolicy, &wafv1.GetPolicyRequest{PolicyId: ref}))
	if err != nil {
		return err
	}
	p := proto.Clone(cur.GetPolicy()).(*wafv1.WafPolicy)
	if err := change(p); err != nil {
		return err
	}
	return show(cmd, f, clientx.RPC(wafv1connect.WafServiceClient.UpdatePolicy, &wafv1.UpdatePolicyRequest{PolicyId: cur.GetPolicy().GetId(), Policy: p,
		ExpectedVersion: ev.OrRead(cmd, cur.GetVersion()), ValidateOnly: dry}), func(w io.Writer, res *wafv1.UpdatePolicyResponse) error {
		if dry {
			return clientx.Line(w, "valid")
		}
		return clientx.Line(w, "updated waf policy %s (version %d)", res.GetPolicy().GetId(), res.GetVersion())
	})
}

func updateCmd(f ClientFactory) *cobra.Command {
	var pf policyFlags
	var name string
	var dry bool
	var ev clientx.ExpectVersion
	cmd := &cobra.Command{
		Use:   "update POLICY [--name N] [--mode M] [--paranoia N] [--file policy.json] [flags]",
		Short: "Change a WAF policy's working copy; only the flags given change",
		Example: `  strata waf policy update strict --mode detect
  strata waf policy update strict --disable-rule 920350 --skip-prefix /static/
  strata waf policy update strict --file policy.json     # the whole policy, custom rules included`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			var file *wafv1.WafPolicy
			if pf.file != "" {
				var err error
				if file, err = readPolicy(f, pf.file); err != nil {
					return err
				}
			}
			return edit(cmd, f, a[0], &ev, dry, func(p *wafv1.WafPolicy) error {
				if file != nil {
					keepName := p.GetName()
					proto.Reset(p)
					proto.Merge(p, file)
					if p.Name == "" {
						p.Name = keepName
					}
				}
				if cmd.Flags().Changed("name") {
					p.Name = name
				}
				return pf.apply(cmd.Flags(), p)
			})
		},
	}
	pf.register(cmd.Flags())
	cmd.Flags().StringVar(&name, "name", "", "rename the policy")
	cmd.Flags().BoolVar(&dry, "validate-only", false, "check the change (and compile it) without storing it")
	ev.Register(cmd.Flags(), "policy")
	return cmd
}

func showCmd(f ClientFactory) *cobra.Command {
	return &cobra.Command{
		Use:   "show POLICY",
		Short: "Show a WAF policy: the working copy, the newest release and the apps attaching it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			return show(cmd, f, clientx.RPC(wafv1connect.WafServiceClient.GetPolicy, &wafv1.GetPolicyRequest{PolicyId: a[0]}), func(w io.Writer, res *wafv1.GetPolicyResponse) error {
				p := res.GetPolicy()
				fmt.Fprintf(w, "id: %s\nname: %s\nversion: %d\nlatest release: %d\npending changes: %d\napps: %s\n", p.GetId(), p.GetName(),
					res.GetVersion(), res.GetLatestRelease(), res.GetPendingChanges(), clientx.OrDash(strings.Join(res.GetAppIds(), ", ")))
				fmt.Fprintln(w, "working copy:")
				policyText(w, p)
				if r := res.GetReleased(); r != nil {
					fmt.Fprintf(w, "released (release %d):\n", r.GetVersion())
					policyText(w, r)
				}
				return nil
			})
		},
	}
}

// ModeName is a mode as the flags spell it.
func ModeName(m wafv1.WafMode) string {
	switch m {
	case wafv1.WafMode_WAF_MODE_DETECT:
		return "detect"
	case wafv1.WafMode_WAF_MODE_BLOCK:
		return "block"
	}
	return "off"
}

func policyText(w io.Writer, p *wafv1.WafPolicy) {
	crs := fmt.Sprintf("on, paranoia %d", max(p.GetParanoiaLevel(), 1))
	if p.GetCrsDisabled() {
		crs = "off"
	}
	body := "off"
	if b := p.GetRequestBody(); b.GetEnabled() {
		var types []string
		for _, t := range []struct {
			on   bool
			name string
		}{{b.GetJson(), "json"}, {b.GetXml(), "xml"}, {b.GetMultipart(), "multipart"}} {
			if t.on {
				types = append(types, t.name)
			}
		}
		body = fmt.Sprintf("%d bytes, %s", b.GetLimitBytes(), strings.Join(types, ","))
	}
	responses := "off"
	if p.GetInspectResponses() {
		responses = fmt.Sprintf("%s bytes of text, JSON and XML bodies", orDefault(p.GetResponseBodyLimitBytes(), "131072"))
	}
	parts := "every partition"
	if len(p.GetPartitionIds()) > 0 {
		parts = strings.Join(p.GetPartitionIds(), ", ")
	}
	fmt.Fprintf(w, "  mode: %s\n  crs: %s\n  thresholds: inbound %s, outbound %s\n  body: %s\n  responses: %s\n  partitions: %s\n  exclusions: %d\n  custom rules: %d\n",
		ModeName(p.GetMode()), crs, orDefault(p.GetInboundThreshold(), "5"), orDefault(p.GetOutboundThreshold(), "4"), body, responses, parts,
		len(p.GetExclusions()), len(p.GetCustomRules()))
	if wl := p.GetWhitelist(); wl != nil {
		fmt.Fprintf(w, "  skipped: extensions %s; prefixes %s; when %s\n", clientx.OrDash(strings.Join(wl.GetExtensions(), " ")),
			clientx.OrDash(strings.Join(wl.GetPathPrefixes(), " ")), clientx.OrDash(wl.GetWhen()))
	}
}

func orDefault(n uint32, def string) string {
	if n == 0 {
		return def + " (default)"
	}
	return fmt.Sprint(n)
}

func listCmd(f ClientFactory) *cobra.Command {
	return clientx.ListCommand(&cobra.Command{
		Use:   "list [--filter F]",
		Short: "List WAF policies by name",
	}, func(cmd *cobra.Command, lf *clientx.ListFlags) error {
		return show(cmd, f, clientx.Pages(wafv1connect.WafServiceClient.ListPolicies, &wafv1.ListPoliciesRequest{}, lf), func(w io.Writer, res *wafv1.ListPoliciesResponse) error {
			rows := [][]string{{"ID", "NAME", "MODE", "CRS", "RULES", "PARTITIONS"}}
			for _, p := range res.GetPolicies() {
				crs := fmt.Sprintf("PL%d", max(p.GetParanoiaLevel(), 1))
				if p.GetCrsDisabled() {
					crs = "off"
				}
				rows = append(rows, []string{p.GetId(), p.GetName(), ModeName(p.GetMode()), crs, fmt.Sprint(len(p.GetCustomRules())),
					clientx.OrDash(strings.Join(p.GetPartitionIds(), ","))})
			}
			return clientx.Table(w, rows)
		})
	})
}

func deleteCmd(f ClientFactory) *cobra.Command {
	var ev clientx.ExpectVersion
	cmd := &cobra.Command{
		Use:   "delete POLICY",
		Short: "Delete a WAF policy: it leaves every node at once; refused while an app attaches it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			return show(cmd, f, clientx.RPC(wafv1connect.WafServiceClient.DeletePolicy, &wafv1.DeletePolicyRequest{PolicyId: a[0], ExpectedVersion: ev.Get(cmd)}),
				func(w io.Writer, _ *wafv1.DeletePolicyResponse) error {
					return clientx.Line(w, "deleted waf policy %s", a[0])
				})
		},
	}
	ev.Register(cmd.Flags(), "policy")
	return cmd
}

var errNoApp = errors.New("--app: the app id or name is required")
