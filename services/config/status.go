package config

import (
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/services/edgesync"
)

// fillSync sets the sync fields of info from the node's status and its
// track k (none when the partition has no release yet). A node is in sync when
// it is online and runs the newest version of its track; lag counts the
// releases after the version it runs and the time since the first of them.
func fillSync(info *configv1.NodeInfo, st edgesync.NodeStatus, reported bool, tracks *edgesync.Tracks, k edgesync.Key, now time.Time) {
	if reported {
		info.AppliedVersion = st.AppliedVersion
		info.Online = st.Online
		info.Healthy = st.Healthy
		info.LastSeen = timestamppb.New(st.LastSeen)
		info.ApplyError = st.ApplyError
		info.Dns = st.DNS
		info.Xdp = st.XDP
		info.Roles = slices.Clone(st.Roles)
		info.SoftwareVersion = st.SoftwareVersion
		info.PeerChecks, info.HealthReason = st.PeerChecks, st.HealthReason
		if !st.Online && st.DNS == configv1.NodeDnsState_NODE_DNS_STATE_ANSWERING {
			// Its last word, not what it does now: a node that crashed
			// answers nothing anyone knows of.
			info.Dns = configv1.NodeDnsState_NODE_DNS_STATE_UNSPECIFIED
		}
	}
	latest, lag, behind := tracks.Lag(k, info.AppliedVersion, now)
	info.LagReleases, info.LagSeconds = lag, behind.Seconds()
	info.LatestVersion = latest
	info.InSync = reported && st.Online && info.AppliedVersion >= latest
}

// nodeReleases returns the release of each app of track k (staging or
// stable) that a node at version runs: the newest release that reached the
// track at or before version (a staging release reaches the stable track
// when promoted), for the apps the track holds now.
func (st *state) nodeReleases(k edgesync.Key, staging bool, version uint64) []*configv1.NodeAppRelease {
	if k.Partition == "" || version == 0 {
		return nil
	}
	var out []*configv1.NodeAppRelease
	for id, e := range st.apps {
		if !st.sync.Holds(k, kindApp, id) {
			continue
		}
		for i := len(e.releases) - 1; i >= 0; i-- {
			r := &e.releases[i]
			at := r.position
			if r.staging && !staging {
				if r.promotedPosition == 0 {
					continue // never reached the stable track
				}
				at = r.promotedPosition
			}
			if at <= version {
				out = append(out, &configv1.NodeAppRelease{AppId: id, AppName: e.agg.draftView().GetName(), Release: r.number})
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b *configv1.NodeAppRelease) int {
		return strings.Compare(a.AppName+"/"+a.AppId, b.AppName+"/"+b.AppId)
	})
	return out
}
