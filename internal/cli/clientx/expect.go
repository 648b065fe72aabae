package clientx

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// ExpectVersion is the --expect-version flag of mutating commands: the
// object's version (etag) the caller last saw; a stale one is refused.
type ExpectVersion struct{ v uint64 }

// Register adds the flag; noun names the object ("app", "zone").
func (e *ExpectVersion) Register(fs *pflag.FlagSet, noun string) {
	fs.Uint64Var(&e.v, "expect-version", 0, "fail unless the "+noun+" is at this version (optimistic concurrency)")
}

// Get returns the flag's value, or nil when it was not given.
func (e *ExpectVersion) Get(cmd *cobra.Command) *uint64 {
	if !cmd.Flags().Changed("expect-version") {
		return nil
	}
	v := e.v
	return &v
}

// OrRead returns the flag's value, or read (the version a read-modify-write
// command just read) so that a concurrent change is refused, not overwritten.
func (e *ExpectVersion) OrRead(cmd *cobra.Command, read uint64) *uint64 {
	if v := e.Get(cmd); v != nil {
		return v
	}
	return &read
}
