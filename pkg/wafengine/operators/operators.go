// Package operators replaces Coraza's @rx, @pm, @pmFromFile (and @pmf) operators with
// faster engines of the same semantics: @rx runs on RE2 (github.com/wasilibs/go-re2, a
// DFA that does not slow down on CRS's large alternations) for inputs where that pays
// and on Go's regexp otherwise; @pm and @pmFromFile run on one DFA Aho-Corasick
// automaton per phrase list. Coraza's operator registry is process wide, so Register
// swaps the operators for every WAF compiled after the call; WAFs compiled before keep
// Coraza's built-ins (the CRS regression run uses that to compare both in one process).
package operators

import (
	"os"
	"sync"

	"github.com/corazawaf/coraza/v3/experimental/plugins"
)

var once sync.Once

// Env is the environment variable that, set to "coraza", makes Register keep Coraza's
// built-in operators (and package wafengine keep Coraza's transformation chains as the
// rules write them): a switch for an operator that misbehaves in production, and how
// the CRS regression run measures Coraza alone.
const Env = "STRATA_WAF_OPERATORS"

// Register installs the operators in Coraza's registry. It is safe to call many times
// and from many goroutines; only the first call registers. It does nothing when Env
// is "coraza".
func Register() {
	once.Do(func() {
		if os.Getenv(Env) == "coraza" {
			return
		}
		plugins.RegisterOperator("rx", newRX)
		plugins.RegisterOperator("pm", newPM)
		plugins.RegisterOperator("pmFromFile", newPMFromFile)
		plugins.RegisterOperator("pmf", newPMFromFile)
	})
}
