package cli

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Every flag's placeholder in --help is one word: pflag takes the first
// `quoted` text of a usage string as the placeholder, so a quoted command
// rendered as "--join-token strata node token create".
func TestHelpPlaceholders(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if name, _ := pflag.UnquoteUsage(f); strings.ContainsAny(name, " \t") {
				t.Errorf("%s --%s: placeholder %q in --help", c.CommandPath(), f.Name, name)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot(&globals{getenv: func(string) string { return "" }}, BuildInfo{}))

	var out strings.Builder
	code := Execute(t.Context(), BuildInfo{}, []string{"node", "--help"}, &out, &out, func(string) string { return "" })
	if code != 0 || !strings.Contains(out.String(), "--join-token TOKEN ") {
		t.Errorf("strata node --help (exit %d) lacks \"--join-token TOKEN\":\n%s", code, out.String())
	}
}
