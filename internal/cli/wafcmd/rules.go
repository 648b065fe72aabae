package wafcmd

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/gen/strata/waf/v1/wafv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
)

var actions = map[string]wafv1.WafRuleAction{"block": wafv1.WafRuleAction_WAF_RULE_ACTION_BLOCK, "log": wafv1.WafRuleAction_WAF_RULE_ACTION_LOG,
	"challenge": wafv1.WafRuleAction_WAF_RULE_ACTION_CHALLENGE, "allow": wafv1.WafRuleAction_WAF_RULE_ACTION_ALLOW}

// ActionName is a custom rule action as the flags spell it.
func ActionName(a wafv1.WafRuleAction) string {
	for n, v := range actions {
		if v == a {
			return n
		}
	}
	return "-"
}

// ruleFlags are a custom rule's flags; update changes only the ones given.
type ruleFlags struct {
	policy, id, when, action, description string
	status                                uint32
	disabled                              bool
	before                                string
	ev                                    clientx.ExpectVersion
}

func (r *ruleFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&r.policy, "policy", "", "policy id or name (required)")
	fl.StringVar(&r.id, "id", "", "rule id, unique in the policy: [a-z0-9-], at most 64 (required)")
	_ = cmd.MarkFlagRequired("policy")
	_ = cmd.MarkFlagRequired("id")
	r.ev.Register(fl, "policy")
}

func (r *ruleFlags) registerContent(fl *pflag.FlagSet) {
	fl.StringVar(&r.when, "when", "", `condition in the rule language, e.g. 'PathPrefix("/admin") && !ClientIP("10.0.0.0/8")'`)
	fl.StringVar(&r.action, "action", "", "block, log, challenge or allow (allow skips the Core Rule Set)")
	fl.Uint32Var(&r.status, "status", 0, "status of a block, 400-599 (default 403)")
	fl.StringVar(&r.description, "description", "", "shown in hits")
	fl.BoolVar(&r.disabled, "disabled", false, "keep the rule but do not run it (--disabled=false: run it)")
}

func (r *ruleFlags) apply(fl *pflag.FlagSet, c *wafv1.CustomRule) error {
	if fl.Changed("when") {
		c.When = r.when
	}
	if fl.Changed("action") {
		a, ok := actions[r.action]
		if !ok {
			return fmt.Errorf("--action %q: block, log, challenge or allow", r.action)
		}
		c.Action = a
		if a != wafv1.WafRuleAction_WAF_RULE_ACTION_BLOCK && !fl.Changed("status") {
			c.Status = 0
		}
	}
	if fl.Changed("status") {
		c.Status = r.status
	}
	if fl.Changed("description") {
		c.Description = r.description
	}
	if fl.Changed("disabled") {
		c.Disabled = r.disabled
	}
	return nil
}

func ruleIndex(p *wafv1.WafPolicy, id string) int {
	return slices.IndexFunc(p.GetCustomRules(), func(c *wafv1.CustomRule) bool { return c.GetId() == id })
}

func ruleAddCmd(f ClientFactory) *cobra.Command {
	var r ruleFlags
	cmd := &cobra.Command{
		Use:   "add --policy P --id ID --when EXPR --action block|log|challenge|allow [--status N] [--before ID]",
		Short: "Add a custom rule to a policy (last, or before another); custom rules run in order, before the Core Rule Set",
		Example: `  strata waf rule add --policy strict --id block-admin --when 'PathPrefix("/admin") && !ClientIP("10.0.0.0/8")' --action block
  strata waf rule add --policy strict --id health --when 'Path("/healthz")' --action allow --before block-admin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("when") || !cmd.Flags().Changed("action") {
				return fmt.Errorf("--when and --action are required")
			}
			return edit(cmd, f, r.policy, &r.ev, false, func(p *wafv1.WafPolicy) error {
				if ruleIndex(p, r.id) >= 0 {
					return fmt.Errorf("policy %s has a rule %q already: strata waf rule update", r.policy, r.id)
				}
				c := &wafv1.CustomRule{Id: r.id}
				if err := r.apply(cmd.Flags(), c); err != nil {
					return err
				}
				at := len(p.CustomRules)
				if r.before != "" {
					if at = ruleIndex(p, r.before); at < 0 {
						return fmt.Errorf("--before %q: policy %s has no such rule", r.before, r.policy)
					}
				}
				p.CustomRules = slices.Insert(p.CustomRules, at, c)
				return nil
			})
		},
	}
	r.register(cmd)
	r.registerContent(cmd.Flags())
	cmd.Flags().StringVar(&r.before, "before", "", "insert before this rule id (default: last)")
	return cmd
}

func ruleUpdateCmd(f ClientFactory) *cobra.Command {
	var r ruleFlags
	cmd := &cobra.Command{
		Use:     "update --policy P --id ID [--when EXPR] [--action A] [--status N] [--description D] [--disabled]",
		Short:   "Change a custom rule; only the flags given change",
		Example: `  strata waf rule update --policy strict --id block-admin --action log`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return edit(cmd, f, r.policy, &r.ev, false, func(p *wafv1.WafPolicy) error {
				i := ruleIndex(p, r.id)
				if i < 0 {
					return fmt.Errorf("policy %s has no rule %q", r.policy, r.id)
				}
				return r.apply(cmd.Flags(), p.CustomRules[i])
			})
		},
	}
	r.register(cmd)
	r.registerContent(cmd.Flags())
	return cmd
}

func ruleRemoveCmd(f ClientFactory) *cobra.Command {
	var r ruleFlags
	cmd := &cobra.Command{
		Use:   "remove --policy P --id ID",
		Short: "Remove a custom rule from a policy",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return edit(cmd, f, r.policy, &r.ev, false, func(p *wafv1.WafPolicy) error {
				i := ruleIndex(p, r.id)
				if i < 0 {
					return fmt.Errorf("policy %s has no rule %q", r.policy, r.id)
				}
				p.CustomRules = slices.Delete(p.CustomRules, i, i+1)
				return nil
			})
		},
	}
	r.register(cmd)
	return cmd
}

func ruleListCmd(f ClientFactory) *cobra.Command {
	var policy string
	cmd := &cobra.Command{
		Use:   "list --policy P",
		Short: "List a policy's custom rules in the order they run (the working copy)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := call(cmd, f, clientx.RPC(wafv1connect.WafServiceClient.GetPolicy, &wafv1.GetPolicyRequest{PolicyId: policy}))
			if err != nil {
				return err
			}
			out := &wafv1.WafPolicy{Id: res.GetPolicy().GetId(), Name: res.GetPolicy().GetName(), CustomRules: res.GetPolicy().GetCustomRules()}
			return clientx.Emit(f, out, func(w io.Writer) error {
				rows := [][]string{{"#", "ID", "ACTION", "STATUS", "ON", "WHEN", "DESCRIPTION"}}
				for i, c := range out.GetCustomRules() {
					status := "-"
					if c.GetStatus() != 0 {
						status = fmt.Sprint(c.GetStatus())
					}
					when := c.GetWhen()
					if len(when) > 60 {
						when = when[:57] + "..."
					}
					rows = append(rows, []string{fmt.Sprint(i), c.GetId(), ActionName(c.GetAction()), status, clientx.YesNo(!c.GetDisabled()),
						strings.ReplaceAll(when, "\n", " "), clientx.OrDash(c.GetDescription())})
				}
				return clientx.Table(w, rows)
			})
		},
	}
	cmd.Flags().StringVar(&policy, "policy", "", "policy id or name (required)")
	_ = cmd.MarkFlagRequired("policy")
	return cmd
}
