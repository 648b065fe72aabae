package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
)

// ruleFlags describe one rule: its condition and actions.
type ruleFlags struct {
	app, name, when                string
	upstreams                      []string
	redirect                       string
	status                         uint32
	respond                        uint32
	body, contentType              string
	setHeaders, addHeaders         []string
	removeHeaders                  []string
	setRespHeaders, addRespHeaders []string
	removeRespHeaders              []string
	rewritePath                    string
	querySet, queryRemove          []string
	cache                          cacheFlags
	rateLimit                      rateLimitFlags
	challenge                      challengeFlags
	last                           bool
	index                          uint32
	ev                             clientx.ExpectVersion
}

func (f *ruleFlags) register(fs *pflag.FlagSet, withIndex bool) {
	fs.StringVar(&f.app, "app", "", "app id or name (required)")
	fs.StringVar(&f.name, "name", "", "rule name, unique in the app")
	fs.StringVar(&f.when, "when", "", "condition, e.g. 'Host(\"a.example.com\") && PathPrefix(\"/api\")'; none matches every request")
	fs.StringArrayVar(&f.upstreams, "upstream", nil, "proxy to upstream NAME[=WEIGHT]; repeat to split traffic by weight")
	fs.StringVar(&f.redirect, "redirect", "", "redirect to URL ($scheme, $host, $path, $request_uri expand)")
	fs.Uint32Var(&f.status, "status", 302, "status of --redirect: 301, 302, 303, 307 or 308")
	fs.Uint32Var(&f.respond, "respond", 0, "answer directly with this status")
	fs.StringVar(&f.body, "body", "", "body of --respond")
	fs.StringVar(&f.contentType, "content-type", "", "content type of --respond")
	fs.StringArrayVar(&f.setHeaders, "set-header", nil, "set request header NAME=VALUE (repeatable)")
	fs.StringArrayVar(&f.addHeaders, "add-header", nil, "append request header NAME=VALUE (repeatable)")
	fs.StringArrayVar(&f.removeHeaders, "remove-header", nil, "remove request header NAME (repeatable)")
	fs.StringArrayVar(&f.setRespHeaders, "set-response-header", nil, "set response header NAME=VALUE (repeatable)")
	fs.StringArrayVar(&f.addRespHeaders, "add-response-header", nil, "append response header NAME=VALUE (repeatable)")
	fs.StringArrayVar(&f.removeRespHeaders, "remove-response-header", nil, "remove response header NAME (repeatable)")
	fs.StringVar(&f.rewritePath, "rewrite-path", "", "rewrite the path: REGEX=REPLACEMENT ($1..$9 for groups; split at the first '=')")
	fs.StringArrayVar(&f.querySet, "query-set", nil, "set query argument NAME=VALUE before proxying (repeatable)")
	fs.StringArrayVar(&f.queryRemove, "query-remove", nil, "remove query argument NAME before proxying (repeatable)")
	f.cache.register(fs)
	f.rateLimit.register(fs)
	f.challenge.register(fs)
	fs.BoolVar(&f.last, "last", false, "stop evaluating further rules when this one matches")
	if withIndex {
		fs.Uint32Var(&f.index, "index", 0, "position in the rule list, 0 first (default: append)")
	}
	f.ev.Register(fs, "app")
}

// rule builds the rule the flags describe: request header changes and rewrite
// first, then the terminal action, then response header changes.
func (f *ruleFlags) rule(fs *pflag.FlagSet) (*configv1.Rule, error) {
	terminal := 0
	for _, n := range []string{"upstream", "redirect", "respond"} {
		if fs.Changed(n) {
			terminal++
		}
	}
	if terminal > 1 {
		return nil, usagef("give at most one of --upstream, --redirect, --respond")
	}
	r := &configv1.Rule{Name: f.name, When: f.when, Last: f.last}
	req, err := headerOps("", f.setHeaders, f.addHeaders, f.removeHeaders)
	if err != nil {
		return nil, err
	}
	if req != nil {
		r.Actions = append(r.Actions, &configv1.Action{Action: &configv1.Action_RequestHeaders{RequestHeaders: req}})
	}
	if fs.Changed("rewrite-path") || len(f.querySet)+len(f.queryRemove) > 0 {
		rw := &configv1.RewriteAction{QueryRemove: f.queryRemove}
		if fs.Changed("rewrite-path") {
			re, repl, ok := strings.Cut(f.rewritePath, "=")
			if !ok {
				return nil, usagef("--rewrite-path %q: want REGEX=REPLACEMENT", f.rewritePath)
			}
			rw.PathRegex, rw.PathReplacement = re, repl
		}
		if len(f.querySet) > 0 {
			qs, err := parseKVs("--query-set", f.querySet)
			if err != nil {
				return nil, err
			}
			rw.QuerySet = qs
		}
		r.Actions = append(r.Actions, &configv1.Action{Action: &configv1.Action_Rewrite{Rewrite: rw}})
	}
	if c, err := f.cache.action(fs); err != nil {
		return nil, err
	} else if c != nil {
		r.Actions = append(r.Actions, &configv1.Action{Action: &configv1.Action_Cache{Cache: c}})
	}
	if rl, err := f.rateLimit.action(fs); err != nil {
		return nil, err
	} else if rl != nil {
		r.Actions = append(r.Actions, &configv1.Action{Action: &configv1.Action_RateLimit{RateLimit: rl}})
		nameRateLimits(r)
	}
	if c, err := f.challenge.action(fs); err != nil {
		return nil, err
	} else if c != nil {
		r.Actions = append(r.Actions, &configv1.Action{Action: &configv1.Action_Challenge{Challenge: c}})
	}
	switch {
	case fs.Changed("upstream"):
		proxy := &configv1.ProxyAction{}
		for _, v := range f.upstreams {
			wu, err := parseWeightedUpstream(v)
			if err != nil {
				return nil, usagef("--upstream %w", err)
			}
			proxy.Upstreams = append(proxy.Upstreams, wu)
		}
		r.Actions = append(r.Actions, &configv1.Action{Action: &configv1.Action_Proxy{Proxy: proxy}})
	case fs.Changed("redirect"):
		r.Actions = append(r.Actions, &configv1.Action{Action: &configv1.Action_Redirect{Redirect: &configv1.RedirectAction{Url: f.redirect, Status: f.status}}})
	case fs.Changed("respond"):
		r.Actions = append(r.Actions, &configv1.Action{Action: &configv1.Action_Respond{Respond: &configv1.RespondAction{Status: f.respond, Body: f.body, ContentType: f.contentType}}})
	default:
		if fs.Changed("body") || fs.Changed("content-type") {
			return nil, usagef("--body and --content-type need --respond STATUS")
		}
	}
	resp, err := headerOps("response-", f.setRespHeaders, f.addRespHeaders, f.removeRespHeaders)
	if err != nil {
		return nil, err
	}
	if resp != nil {
		r.Actions = append(r.Actions, &configv1.Action{Action: &configv1.Action_ResponseHeaders{ResponseHeaders: resp}})
	}
	if len(r.Actions) == 0 {
		return nil, usagef("the rule does nothing: give --upstream, --redirect, --respond, a header change, --rewrite-path, --query-set, --query-remove, a --cache-* flag, --rate-limit or --challenge")
	}
	return r, nil
}

func headerOps(kind string, set, add, remove []string) (*configv1.HeaderOps, error) {
	if len(set)+len(add)+len(remove) == 0 {
		return nil, nil
	}
	s, err := parseKVs("--set-"+kind+"header", set)
	if err != nil {
		return nil, err
	}
	a, err := parseHeaders("--add-"+kind+"header", add)
	if err != nil {
		return nil, err
	}
	return &configv1.HeaderOps{Set: s, Add: a, Remove: remove}, nil
}

func newRuleCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "rule", Short: "An app's ordered page rules: condition and actions"}
	cmd.AddCommand(newRuleCreateCmd(g), newRuleUpdateCmd(g), newAppPartListCmd(g, "List an app's rules in evaluation order (working copy)", func(a *configv1.App) (*configv1.App, [][]string) {
		rows := [][]string{{"#", "NAME", "WHEN", "ACTIONS", "LAST"}}
		for i, r := range a.GetRules() {
			rows = append(rows, []string{strconv.Itoa(i), r.GetName(), clientx.OrDash(r.GetWhen()), describeActions(r.GetActions()), clientx.YesNo(r.GetLast())})
		}
		return &configv1.App{Rules: a.GetRules()}, rows
	}), newAppObjectDeleteCmd(g, "rule", "Remove a rule", func(ctx context.Context, c configv1connect.ConfigServiceClient, app, name string, ev *uint64) (*configv1.DeleteRuleResponse, error) {
		return c.DeleteRule(ctx, &configv1.DeleteRuleRequest{AppId: app, ExpectedVersion: ev, Rule: name})
	}), newRuleMoveCmd(g))
	return cmd
}

// nextRuleName picks "rule-N", the first N >= len(rules)+1 not taken.
func nextRuleName(rules []*configv1.Rule) string {
	taken := map[string]bool{}
	for _, r := range rules {
		taken[r.GetName()] = true
	}
	for n := len(rules) + 1; ; n++ {
		if name := "rule-" + strconv.Itoa(n); !taken[name] {
			return name
		}
	}
}

func newRuleCreateCmd(g *globals) *cobra.Command {
	var f ruleFlags
	cmd := &cobra.Command{
		Use:   "create --app APP [--name N] [--when EXPR] ACTION... [--last] [--index N]",
		Short: "Add a rule to an app (prints its name)",
		Example: `  strata rule create --app $APP --upstream web
  strata rule create --app $APP --name api --when 'PathPrefix("/api")' --upstream api=9 --upstream api-canary=1 --last
  strata rule create --app $APP --when 'Path("/old")' --redirect 'https://$host/new' --status 301 --index 0
  strata rule create --app $APP --when 'PathPrefix("/admin")' --respond 403 --body forbidden --last
  strata rule create --app $APP --set-header X-Env=prod --remove-header Cookie --rewrite-path '^/v1/(.*)=/$1'
  strata rule create --app $APP --when 'PathPrefix("/static")' --cache-ttl 1h --cache-key-query v --upstream web
  strata rule create --app $APP --when 'PathPrefix("/cart")' --cache-bypass --upstream web
  strata rule create --app $APP --name api-limit --when 'PathPrefix("/api")' --rate-limit 100/1m --burst 20 --nodelay --key ip,header:x-api-key --scope cluster
  strata rule create --app $APP --when 'Path("/login")' --rate-limit 5/1m --algorithm sliding-window --on-exceed challenge
  strata rule create --app $APP --name gate --when 'PathPrefix("/login")' --challenge --challenge-difficulty 18 --challenge-clearance 30m`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := f.rule(cmd.Flags())
			if err != nil {
				return err
			}
			return show(cmd, g, func(ctx context.Context, c configv1connect.ConfigServiceClient) (*configv1.CreateRuleResponse, error) {
				ev := f.ev.Get(cmd)
				if r.Name == "" {
					cur, err := getApp(ctx, c, f.app)
					if err != nil {
						return nil, err
					}
					r.Name = nextRuleName(cur.GetApp().GetRules())
					nameRateLimits(r)
					ev = f.ev.OrRead(cmd, cur.GetVersion())
				}
				req := &configv1.CreateRuleRequest{AppId: f.app, ExpectedVersion: ev, Rule: r}
				if cmd.Flags().Changed("index") {
					req.Index = &f.index
				}
				return c.CreateRule(ctx, req)
			}, func(w io.Writer, res *configv1.CreateRuleResponse) error {
				return clientx.Line(w, "%s", res.GetRule().GetName())
			})
		},
	}
	f.register(cmd.Flags(), true)
	_ = cmd.MarkFlagRequired("app")
	return cmd
}

func newRuleUpdateCmd(g *globals) *cobra.Command {
	var f ruleFlags
	cmd := &cobra.Command{
		Use:     "update --app APP --name N [--when EXPR] ACTION... [--last]",
		Short:   "Replace a rule's condition and actions (position kept)",
		Example: `  strata rule update --app $APP --name api --when 'PathPrefix("/api/")' --upstream api --last`,
		Args:    args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := f.rule(cmd.Flags())
			if err != nil {
				return err
			}
			return show(cmd, g, clientx.RPC(configv1connect.ConfigServiceClient.UpdateRule, &configv1.UpdateRuleRequest{AppId: f.app, ExpectedVersion: f.ev.Get(cmd), Rule: r}), func(w io.Writer, res *configv1.UpdateRuleResponse) error {
				return clientx.Line(w, "updated rule %s (app version %d)", res.GetRule().GetName(), res.GetVersion())
			})
		},
	}
	f.register(cmd.Flags(), false)
	_ = cmd.MarkFlagRequired("app")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func newRuleMoveCmd(g *globals) *cobra.Command {
	var app, name string
	var index uint32
	var ev clientx.ExpectVersion
	cmd := &cobra.Command{
		Use:   "move --app APP --name N --index I",
		Short: "Move a rule to another position (0 is evaluated first)",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return show(cmd, g, clientx.RPC(configv1connect.ConfigServiceClient.MoveRule, &configv1.MoveRuleRequest{AppId: app, ExpectedVersion: ev.Get(cmd), Rule: name, Index: index}), func(w io.Writer, res *configv1.MoveRuleResponse) error {
				return clientx.Line(w, "moved rule %s to %d (app version %d)", name, index, res.GetVersion())
			})
		},
	}
	cmd.Flags().StringVar(&app, "app", "", "app id or name (required)")
	cmd.Flags().StringVar(&name, "name", "", "rule name or id (required)")
	cmd.Flags().Uint32Var(&index, "index", 0, "new position, 0 first (required)")
	ev.Register(cmd.Flags(), "app")
	_ = cmd.MarkFlagRequired("app")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("index")
	return cmd
}

// describeRule is one line about a rule.
func describeRule(r *configv1.Rule) string {
	s := r.GetName()
	if r.GetWhen() != "" {
		s += "  when " + r.GetWhen()
	}
	s += "  -> " + describeActions(r.GetActions())
	if r.GetLast() {
		s += "  (last)"
	}
	return s
}

func describeActions(actions []*configv1.Action) string {
	var parts []string
	for _, a := range actions {
		switch x := a.GetAction().(type) {
		case *configv1.Action_Proxy:
			ups := make([]string, 0, len(x.Proxy.GetUpstreams()))
			for _, u := range x.Proxy.GetUpstreams() {
				ups = append(ups, fmt.Sprintf("%s=%d", u.GetUpstream(), u.GetWeight()))
			}
			parts = append(parts, "proxy "+strings.Join(ups, ","))
		case *configv1.Action_Redirect:
			parts = append(parts, fmt.Sprintf("redirect %d %s", x.Redirect.GetStatus(), x.Redirect.GetUrl()))
		case *configv1.Action_Respond:
			parts = append(parts, fmt.Sprintf("respond %d", x.Respond.GetStatus()))
		case *configv1.Action_RequestHeaders:
			parts = append(parts, "request headers "+describeHeaderOps(x.RequestHeaders))
		case *configv1.Action_ResponseHeaders:
			parts = append(parts, "response headers "+describeHeaderOps(x.ResponseHeaders))
		case *configv1.Action_Rewrite:
			rw := x.Rewrite
			if rw.GetPathRegex() != "" || rw.GetPathReplacement() != "" {
				parts = append(parts, fmt.Sprintf("rewrite %s => %s", rw.GetPathRegex(), rw.GetPathReplacement()))
			}
			for _, k := range slices.Sorted(maps.Keys(rw.GetQuerySet())) {
				parts = append(parts, fmt.Sprintf("query %s=%s", k, rw.GetQuerySet()[k]))
			}
			for _, k := range rw.GetQueryRemove() {
				parts = append(parts, "query -"+k)
			}
		case *configv1.Action_Cache:
			parts = append(parts, describeCache(x.Cache))
		case *configv1.Action_RateLimit:
			parts = append(parts, describeRateLimit(x.RateLimit))
		case *configv1.Action_Challenge:
			parts = append(parts, describeChallenge(x.Challenge))
		}
	}
	return strings.Join(parts, "; ")
}

func describeHeaderOps(h *configv1.HeaderOps) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(h.GetSet())) {
		parts = append(parts, "set "+k)
	}
	for _, a := range h.GetAdd() {
		parts = append(parts, "add "+a.GetName())
	}
	for _, r := range h.GetRemove() {
		parts = append(parts, "remove "+r)
	}
	return strings.Join(parts, ", ")
}
