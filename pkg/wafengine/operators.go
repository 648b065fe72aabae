package wafengine

import "github.com/strata-edge/strata/pkg/wafengine/operators"

// Every WAF this package compiles runs @rx, @pm and @pmFromFile on the faster engines
// of package operators (same results as Coraza's own; STRATA_WAF_OPERATORS=coraza in
// the environment keeps Coraza's).
func init() { operators.Register() }
