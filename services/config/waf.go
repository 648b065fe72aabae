package config

import (
	"fmt"
	"slices"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/pkg/apierr"
)

// WafPolicies tells what WAF policies exist (the waf service, set with
// UseWafPolicies; no service imports another). Both are read outside this
// service's state lock: the waf service asks AppsAttaching under its own.
type WafPolicies interface {
	// PolicyRef resolves a policy id or name to the id of a live policy.
	PolicyRef(ref string) (id string, ok bool)
	// PolicyReleased reports whether the policy has a release the nodes run.
	PolicyReleased(id string) bool
}

// UseWafPolicies makes App.waf_policy_id checked against w: the policy must
// exist when an app names it, and have a release when the app is released
// (before Start; without it the field is refused).
func (s *Service) UseWafPolicies(w WafPolicies) { s.waf = w }

// resolveWafPolicy sets in.wafPolicyID from in.wafPolicy.
func (s *Service) resolveWafPolicy(in *appInput) error {
	in.wafPolicyID = ""
	if in.wafPolicy == "" {
		return nil
	}
	if s.waf == nil {
		return apierr.Invalid(apierr.FieldViolation{Field: "waf_policy_id", Reason: "this control plane runs no waf service"})
	}
	id, ok := s.waf.PolicyRef(in.wafPolicy)
	if !ok {
		return apierr.Invalid(apierr.FieldViolation{Field: "waf_policy_id", Reason: fmt.Sprintf("no waf policy %q (strata waf policy list)", in.wafPolicy)})
	}
	in.wafPolicyID = id
	return nil
}

// unreleasedWafPolicy is the policy app id's working copy attaches when
// that policy has no release yet ("" otherwise): releasing the app would
// send nodes a reference to nothing.
func (s *Service) unreleasedWafPolicy(id string) string {
	if s.waf == nil {
		return ""
	}
	var policy string
	s.proj.Read(func(st *state) {
		if e := st.apps[id]; e != nil && e.agg.draftView() != nil {
			policy = e.agg.draftView().GetWafPolicyId()
		}
	})
	if policy == "" || s.waf.PolicyReleased(policy) {
		return ""
	}
	return policy
}

// checkRevertWafPolicy refuses a revert to a release whose WAF policy is
// gone or unreleased. Called under the state lock: the waf service never
// calls this one under its own, so the two cannot wait on each other.
func (s *Service) checkRevertWafPolicy(policy string, to uint64) error {
	if policy == "" || s.waf == nil {
		return nil
	}
	if _, ok := s.waf.PolicyRef(policy); !ok {
		return apierr.FailedPrecondition(fmt.Sprintf("cannot revert to release %d: its waf policy %s no longer exists", to, policy))
	}
	if !s.waf.PolicyReleased(policy) {
		return apierr.FailedPrecondition(fmt.Sprintf("cannot revert to release %d: its waf policy %s has no release", to, policy))
	}
	return nil
}

// AppsAttaching lists the apps whose working copy or a release that runs
// attaches WAF policy id, as `"shop" (app_1)`, sorted (the waf service
// refuses to delete a policy in use).
func (s *Service) AppsAttaching(id string) []string {
	var out []string
	s.proj.Read(func(st *state) {
		for appID, e := range st.apps {
			a := e.agg
			if !a.Exists() || a.Gone() {
				continue
			}
			for _, c := range []*configv1.App{a.draftView(), a.Released(), a.Stable()} {
				if c != nil && c.GetWafPolicyId() == id {
					out = append(out, fmt.Sprintf("%q (%s)", a.draftView().GetName(), appID))
					break
				}
			}
		}
	})
	slices.Sort(out)
	return out
}
