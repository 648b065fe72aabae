package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		bi   debug.BuildInfo
		want string
	}{
		{debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "v1.4.0"},
		{debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel"},
		{debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "3f2a9c1e0b7d55aa"}, {Key: "vcs.modified", Value: "true"}}}, "devel+3f2a9c1e0b7d-dirty"},
		{debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}}}, "devel+abc"},
	} {
		if got := fromBuildInfo(&tc.bi); got != tc.want {
			t.Errorf("fromBuildInfo(%+v) = %q, want %q", tc.bi, got, tc.want)
		}
	}
	if Version() == "" {
		t.Error("Version is empty")
	}
}
