package route

import (
	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/proxy/stats"
	"github.com/strata-edge/strata/node/proxy/upstream"
	"github.com/strata-edge/strata/node/store"
	"github.com/strata-edge/strata/pkg/domainname"
)

// patch builds the runtime of snap from prev (compiled with the same server
// sets) by changing only what differs: the apps of prev whose objects snap
// no longer holds are unbound, the objects new in snap are compiled and
// bound, and the maps of everything else are shared (copy-on-write). It
// gives the same runtime as compileAll. ok is false, with nothing of prev
// touched, when the change is too large to be worth it or fails; Compile
// then compiles the whole snapshot, which reports the error in order.
func patch(snap *syncv1.Snapshot, prev *Runtime, statsFor func(appID string) *stats.App) (*Runtime, bool) {
	cur := snap.GetApps()
	gone, came := store.Diff(prev.srcApps, cur)
	if len(gone)+len(came) > len(cur)/4+16 {
		return nil, false // a new snapshot more than a delta: build it whole
	}
	rt := &Runtime{
		Version:     snap.GetVersion(),
		apps:        prev.apps.Clone(),
		upstreams:   prev.upstreams.Clone(),
		httpHosts:   prev.httpHosts.Clone(),
		httpsHosts:  prev.httpsHosts.Clone(),
		srcApps:     cur,
		srcSets:     snap.GetUpstreamEndpoints(),
		id:          runtimeIDs.Add(1),
		base:        prev.id,
		baseStarted: prev.started,
	}
	var removed []*App
	for _, ac := range gone {
		a := prev.App(ac.GetId())
		if a == nil || a.src != ac {
			continue // a stream or forward-proxy app: never compiled here
		}
		rt.remove(ac, a)
		removed = append(removed, a)
	}
	sets := upstream.Sets(snap.GetUpstreamEndpoints())
	var fresh []*App
	for _, i := range came {
		ac := cur[i]
		if ac.GetRole() != nil {
			continue
		}
		if a := prev.reusable(ac, sets); a != nil { // moved, not changed
			if rt.add(i, ac, a, false) != nil {
				return rt.fail(prev)
			}
			continue
		}
		a, err := compileApp(ac, prev, &rt.upstreams, sets)
		if err != nil {
			return rt.fail(prev)
		}
		if statsFor != nil {
			a.Stats = statsFor(a.ID)
		} else {
			a.Stats = new(stats.App)
		}
		if rt.add(i, ac, a, true) != nil {
			return rt.fail(prev)
		}
		fresh = append(fresh, a)
	}
	for _, a := range fresh {
		for _, u := range a.upstreams {
			if v, _ := prev.upstreams.Get(u.Key()); v != u {
				rt.added = append(rt.added, u)
			}
		}
	}
	for _, a := range removed {
		for _, u := range a.upstreams {
			if v, _ := rt.upstreams.Get(u.Key()); v != u {
				rt.dropped = append(rt.dropped, u)
			}
		}
		if rt.App(a.ID) == nil {
			rt.droppedApps = append(rt.droppedApps, a.ID)
		}
	}
	return rt, true
}

// fail closes what a failed patch opened (every upstream prev lacks).
func (rt *Runtime) fail(prev *Runtime) (*Runtime, bool) {
	rt.retireScan(prev)
	return nil, false
}

// remove takes app a, compiled from ac, out of rt: its domains, id and
// upstreams.
func (rt *Runtime) remove(ac *configv1.App, a *App) {
	for _, d := range ac.GetDomains() {
		n, err := domainname.Normalize(d)
		if err != nil {
			continue // never bound: the app would not have compiled
		}
		unbind(&rt.httpHosts, n, a)
		unbind(&rt.httpsHosts, n, a)
	}
	rt.apps.Delete(a.ID)
	for _, u := range a.upstreams {
		if v, _ := rt.upstreams.Get(u.Key()); v == u {
			rt.upstreams.Delete(u.Key())
		}
	}
}
