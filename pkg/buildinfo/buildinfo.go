// Package buildinfo names the strata build a process runs, as nodes report
// it in their heartbeats (node list's SOFTWARE column) and `strata version`
// prints it.
package buildinfo

import (
	"runtime/debug"
	"sync"
)

// Version is the version the binary was stamped with (Set, from
// `-ldflags -X main.version=...`), else the main module's version
// ("v1.4.0"), else for a build from a checkout "devel" with the first 12
// characters of the VCS revision and "-dirty" when the tree had changes
// ("devel+3f2a9c1e0b7d").
func Version() string {
	if stamped != "" {
		return stamped
	}
	return fromModule()
}

var stamped string

// Set records the version the binary was stamped with; "" and "dev" (the
// unstamped default) leave Version to the build info. Call it at start.
func Set(v string) {
	if v != "" && v != "dev" {
		stamped = v
	}
}

var fromModule = sync.OnceValue(func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	return fromBuildInfo(bi)
})

func fromBuildInfo(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return "devel"
	}
	return "devel+" + rev[:min(12, len(rev))] + dirty
}
