package config

import (
	"log/slog"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/configevents"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/readmodel"
	"github.com/strata-edge/strata/services/edgesync"
)

// projection holds the read model, folded from the global log by Handle
// (one event at a time, in log order) and read through Read only.
type projection struct {
	*readmodel.Model[*state]
	// sync holds the partition tracks this projection contributes apps and
	// cluster settings to (kinds.go).
	sync *edgesync.Tracks
}

// state is the read model: partitions, clusters, nodes, app aggregates with
// their releases and pending events, and the uniqueness indexes (app names,
// domains per partition). Folding it sends the apps and cluster settings
// to the tracks.
type state struct {
	sync            *edgesync.Tracks
	partitions      map[string]*configv1.Partition
	partitionByName map[string]string
	clusters        map[string]*configv1.Cluster
	clusterByName   map[string]string
	tokens          map[string]*configv1.JoinToken // unrevoked join tokens (id, cluster, expiry)
	nodes           map[string]*configv1.Node
	apps            map[string]*appEntry
	names           map[string][]string    // app name -> ids of apps claiming it
	domains         map[string][]string    // partition id + " " + domain -> ids of apps claiming it
	ports           map[string]*portOwners // partition id + " " + "tcp/80" -> apps binding it (roles.go)
	list            *appList               // ListApps order and domain search (listapps.go)
	// Dynamic server sets (endpoints.go) by id, and the version of each
	// set's stream (deleted sets too).
	endpoints        map[string]*configv1.UpstreamEndpoints
	endpointsVersion map[string]uint64
	actors           map[string]string // one copy of each actor name (releases.go)
}

// appEntry is one app in the read model.
type appEntry struct {
	agg      *App
	pending  []pendingEvent  // events since the newest release, for diff
	releases []releaseRecord // oldest first
	claims   appClaims       // what the app holds in the uniqueness indexes
	listed   appListed       // what it holds in the listing index (listapps.go)
	updated  time.Time       // time of the app's newest event
	created  time.Time       // time of its first
}

type appClaims struct {
	names   []string
	domains []string // keys of state.domains
	ports   []string // keys of state.ports
}

type pendingEvent struct {
	pos  uint64
	typ  string
	meta eventstore.Metadata
	msg  proto.Message
}

// newProjection returns an empty read model contributing to sync. A config
// event that cannot be decoded is corruption or a newer writer: it is
// skipped (logged) and the rest of the model keeps serving.
func newProjection(logger *slog.Logger, sync *edgesync.Tracks) *projection {
	st := &state{
		sync:             sync,
		partitions:       map[string]*configv1.Partition{},
		partitionByName:  map[string]string{},
		clusters:         map[string]*configv1.Cluster{},
		clusterByName:    map[string]string{},
		tokens:           map[string]*configv1.JoinToken{},
		nodes:            map[string]*configv1.Node{},
		apps:             map[string]*appEntry{},
		names:            map[string][]string{},
		domains:          map[string][]string{},
		ports:            map[string]*portOwners{},
		list:             newAppList(),
		endpoints:        map[string]*configv1.UpstreamEndpoints{},
		endpointsVersion: map[string]uint64{},
		actors:           map[string]string{},
	}
	p := &projection{Model: readmodel.New(st, configevents.Fold, (*state).apply, logger), sync: sync}
	sync.Contribute(p, kinds...)
	return p
}

// apply folds one decoded event.
func (st *state) apply(e eventstore.Event, msg proto.Message) error {
	switch m := msg.(type) {
	case *ev.PartitionCreated:
		pt := m.Partition
		st.partitions[pt.Id] = pt
		st.partitionByName[pt.Name] = pt.Id
		st.sync.Ensure(pt.Id)
	case *ev.PartitionRenamed:
		if pt := st.partitions[m.PartitionId]; pt != nil {
			c := proto.Clone(pt).(*configv1.Partition)
			c.Name = m.Name
			st.partitions[c.Id] = c
			if st.partitionByName[pt.Name] == c.Id {
				delete(st.partitionByName, pt.Name)
			}
			st.partitionByName[c.Name] = c.Id
		}
	case *ev.PartitionDeleted:
		if pt := st.partitions[m.PartitionId]; pt != nil {
			delete(st.partitions, pt.Id)
			if st.partitionByName[pt.Name] == pt.Id {
				delete(st.partitionByName, pt.Name)
			}
		}
	case *ev.ClusterCreated:
		c := proto.CloneOf(m.Cluster)
		c.CreatedAt, c.UpdatedAt = timestamppb.New(e.Metadata.Time), timestamppb.New(e.Metadata.Time)
		st.clusters[c.Id] = c
		st.clusterByName[c.Name] = c.Id
	case *ev.ClusterUpdated:
		c := proto.CloneOf(m.Cluster)
		old := st.clusters[c.Id]
		if old != nil && old.Name != c.Name && st.clusterByName[old.Name] == old.Id {
			delete(st.clusterByName, old.Name) // renamed
		}
		c.CreatedAt, c.UpdatedAt = old.GetCreatedAt(), timestamppb.New(e.Metadata.Time)
		st.clusters[c.Id] = c
		st.clusterByName[c.Name] = c.Id
		st.syncCluster(c.Id, map[string]proto.Message{c.PartitionId: c}, e)
	case *ev.ClusterDeleted:
		if c := st.clusters[m.ClusterId]; c != nil {
			delete(st.clusters, c.Id)
			if st.clusterByName[c.Name] == c.Id {
				delete(st.clusterByName, c.Name)
			}
			st.syncCluster(c.Id, nil, e)
		}
	case *ev.NodeRegistered:
		st.nodes[m.Node.Id] = m.Node
	case *ev.NodeStagingSet:
		st.updateNode(m.NodeId, func(n *configv1.Node) { n.Staging = m.Staging })
	case *ev.NodeApproved:
		st.updateNode(m.NodeId, func(n *configv1.Node) { n.Approved = true })
	case *ev.NodeDisabledSet:
		st.updateNode(m.NodeId, func(n *configv1.Node) { n.Disabled = m.Disabled })
	case *ev.NodeAddressSet:
		// Written by the nodes service when a node joins again with other
		// public addresses.
		st.updateNode(m.NodeId, func(n *configv1.Node) { n.PublicIpv4, n.PublicIpv6 = m.PublicIpv4, m.PublicIpv6 })
	case *ev.NodeRemoved:
		delete(st.nodes, m.NodeId)
	case *ev.JoinTokenCreated:
		// Owned by the node service; kept here so that a cluster with live
		// tokens is not deleted.
		st.tokens[m.TokenId] = &configv1.JoinToken{Id: m.TokenId, ClusterId: m.ClusterId, ExpiresAt: m.ExpiresAt}
	case *ev.JoinTokenRevoked:
		delete(st.tokens, m.TokenId)
	case *ev.EndpointsSet, *ev.EndpointsDeleted:
		st.foldEndpoints(e, m)
	default:
		if id := appIDOf(msg); id != "" {
			st.applyApp(id, e, msg)
		}
	}
	return nil
}

// updateNode replaces a node with a changed copy: nodes handed out by
// readers are never mutated.
func (st *state) updateNode(id string, change func(*configv1.Node)) {
	if n, ok := st.nodes[id]; ok {
		c := proto.Clone(n).(*configv1.Node)
		change(c)
		st.nodes[id] = c
	}
}

func (st *state) applyApp(id string, e eventstore.Event, msg proto.Message) {
	entry := st.apps[id]
	if entry == nil {
		entry = &appEntry{agg: NewApp(id)}
		st.apps[id] = entry
	}
	a := entry.agg
	id = a.id // the event's copy of the id is not kept
	prevStable, prevReleased := a.Stable(), a.Released()
	var object string
	if o, ok := msg.(*ev.ObjectReverted); ok {
		object = objectName(o, a.Released())
	}

	a.Apply(e.Position, msg)
	entry.updated = e.Metadata.Time
	if entry.created.IsZero() {
		entry.created = e.Metadata.Time
	}
	st.list.update(entry)

	switch m := msg.(type) {
	case *ev.AppReleased:
		entry.releases = append(entry.releases, releaseRecord{
			number: m.Release, note: m.Note, staging: m.Staging, kind: "release",
			actor: st.intern(e.Metadata.Actor), at: e.Metadata.Time, position: e.Position,
		})
	case *ev.AppPromoted:
		// No new release: the staging release is now stable too. Pending
		// changes stay pending.
		// Records are values that readers copy under the read lock: they
		// change in place.
		for i := range entry.releases {
			if r := &entry.releases[i]; r.number == m.Release {
				r.promotedBy, r.promotedAt, r.promotedPosition = st.intern(e.Metadata.Actor), e.Metadata.Time, e.Position
			}
		}
		st.moveApp(id, prevStable, a.Stable(), false, e)
		return
	case *ev.AppReverted:
		entry.releases = append(entry.releases, releaseRecord{
			number: m.Release, note: m.Note, kind: "revert", revertedTo: m.ToRelease,
			actor: st.intern(e.Metadata.Actor), at: e.Metadata.Time, position: e.Position,
		})
	case *ev.ObjectReverted:
		entry.releases = append(entry.releases, releaseRecord{
			number: m.Release, note: m.Note, kind: "object_revert", revertedTo: m.ToRelease, object: object,
			actor: st.intern(e.Metadata.Actor), at: e.Metadata.Time, position: e.Position,
		})
	default:
		entry.pending = append(entry.pending, pendingEvent{pos: e.Position, typ: e.Type, meta: e.Metadata, msg: msg})
		switch msg.(type) {
		case *ev.AppCreated, *ev.AppUpdated, *ev.AppDeleted:
			st.reclaim(entry)
		}
		return
	}
	entry.pending = nil
	st.reclaim(entry)
	st.moveApp(id, prevStable, a.Stable(), false, e)
	st.moveApp(id, prevReleased, a.Released(), true, e)
}

// syncCluster puts cluster id's settings (values by partition, nil when
// deleted) on both tracks: they apply without a release.
func (st *state) syncCluster(id string, values map[string]proto.Message, e eventstore.Event) {
	for _, staging := range []bool{false, true} {
		st.sync.Apply(e.Position, e.Metadata.Time, edgesync.Change{Kind: kindCluster, ID: id, Staging: staging, Values: values})
	}
}

// objectName is "upstream/NAME" or "rule/NAME" for a release record.
func objectName(o *ev.ObjectReverted, before *configv1.App) string {
	switch o.Kind {
	case ev.ObjectKind_OBJECT_KIND_UPSTREAM:
		if o.Upstream != nil {
			return "upstream/" + o.Upstream.Name
		}
		if i := findUpstream(before, o.ObjectId); i >= 0 {
			return "upstream/" + before.Upstreams[i].Name
		}
		return "upstream/" + o.ObjectId
	case ev.ObjectKind_OBJECT_KIND_RULE:
		if o.Rule != nil {
			return "rule/" + o.Rule.Name
		}
		if i := findRule(before, o.ObjectId); i >= 0 {
			return "rule/" + before.Rules[i].Name
		}
		return "rule/" + o.ObjectId
	}
	return o.ObjectId
}

// moveApp moves the tracks after the app's content on the stable or
// staging tracks went from old to cur (nil: absent).
func (st *state) moveApp(id string, old, cur *configv1.App, staging bool, e eventstore.Event) {
	if old != cur {
		st.sync.Apply(e.Position, e.Metadata.Time, edgesync.Change{Kind: kindApp, ID: id, Staging: staging,
			Values: edgesync.Everywhere(cur, cur.GetPartitionIds())})
	}
}

// reclaim recomputes what an app holds in the name, domain and port
// indexes: the names, domains and ports of its working copy and of its live
// releases, so that a domain or port stays taken until the release that
// removes it.
func (st *state) reclaim(entry *appEntry) {
	a := entry.agg
	for _, n := range entry.claims.names {
		st.names[n] = remove(st.names[n], a.id)
		if len(st.names[n]) == 0 {
			delete(st.names, n)
		}
	}
	for _, k := range entry.claims.domains {
		st.domains[k] = remove(st.domains[k], a.id)
		if len(st.domains[k]) == 0 {
			delete(st.domains, k)
		}
	}
	for _, k := range entry.claims.ports {
		if o := st.ports[k]; o != nil && o.remove(a.id) {
			delete(st.ports, k)
		}
	}
	var c appClaims
	exclusive := map[string]bool{}
	for _, content := range a.liveContents() {
		for _, pt := range content.PartitionIds {
			for _, u := range portUses(content) {
				k := portKey(pt, u.key)
				if _, ok := exclusive[k]; !ok {
					c.ports = append(c.ports, k)
				}
				exclusive[k] = exclusive[k] || u.exclusive
			}
		}
		if !slices.Contains(c.names, content.Name) {
			c.names = append(c.names, content.Name)
		}
		for _, pt := range content.PartitionIds {
			for _, d := range content.Domains {
				k := domainKey(pt, d)
				if !slices.Contains(c.domains, k) {
					c.domains = append(c.domains, k)
				}
			}
		}
	}
	for _, n := range c.names {
		st.names[n] = append(st.names[n], a.id)
	}
	for _, k := range c.domains {
		st.domains[k] = append(st.domains[k], a.id)
	}
	for i, k := range c.ports {
		o := st.ports[k]
		if o == nil {
			o = &portOwners{key: k, shared: map[string]bool{}}
			st.ports[k] = o
		}
		c.ports[i] = o.key // one string per port, not per app
		o.add(a.id, exclusive[k])
	}
	entry.claims = c
}

// liveContents are the app's contents that hold names and domains: the
// working copy and the releases on either track, unless deleted.
func (a *App) liveContents() []*configv1.App {
	var out []*configv1.App
	if a.created && !a.Deleted() {
		out = append(out, a.draftView())
	}
	if r := a.Released(); r != nil {
		out = append(out, r)
	}
	if s := a.Stable(); s != nil && s != a.Released() {
		out = append(out, s)
	}
	return out
}

func domainKey(partition, domain string) string { return partition + " " + domain }

func remove(ids []string, id string) []string {
	if i := slices.Index(ids, id); i >= 0 {
		return slices.Delete(ids, i, i+1)
	}
	return ids
}

// appIDOf returns the app id of an app event, or "".
func appIDOf(msg proto.Message) string {
	type appEvent interface{ GetAppId() string }
	if a, ok := msg.(appEvent); ok {
		return a.GetAppId()
	}
	return ""
}

// --- reads -----------------------------------------------------------------

// resolvePartition and resolveCluster read the state for
// callers outside read.
func (p *projection) resolvePartition(ref string) (id string, ok bool) {
	p.Read(func(st *state) { id, ok = st.resolvePartition(ref) })
	return id, ok
}

func (p *projection) resolveCluster(ref string) (c *configv1.Cluster, ok bool) {
	p.Read(func(st *state) { c, ok = st.resolveCluster(ref) })
	return c, ok
}

func (st *state) resolvePartition(ref string) (string, bool) {
	if _, ok := st.partitions[ref]; ok {
		return ref, true
	}
	id, ok := st.partitionByName[ref]
	return id, ok
}

func (st *state) resolveCluster(ref string) (*configv1.Cluster, bool) {
	if c, ok := st.clusters[ref]; ok {
		return c, true
	}
	if id, ok := st.clusterByName[ref]; ok {
		return st.clusters[id], true
	}
	return nil, false
}

// reachesCluster reports whether target is from or one of its ancestors
// through parent links.
func (st *state) reachesCluster(from, target string) bool {
	seen := map[string]bool{}
	stack := []string{from}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if id == target {
			return true
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		if c := st.clusters[id]; c != nil {
			stack = append(stack, c.ParentClusterIds...)
		}
	}
	return false
}

// nameOwners returns the ids of apps other than self that claim name.
func (st *state) nameOwners(name, self string) []string {
	return without(st.names[name], self)
}

// domainOwners returns the ids of apps other than self that claim domain in
// partition.
func (st *state) domainOwners(partition, domain, self string) []string {
	return without(st.domains[domainKey(partition, domain)], self)
}

func without(ids []string, self string) []string {
	var out []string
	for _, id := range ids {
		if id != self {
			out = append(out, id)
		}
	}
	return out
}

// snapshot returns the current immutable snapshot of a track (nil when the
// partition has no such track).
func (p *projection) snapshot(partition string, staging bool) *syncv1.Snapshot {
	return p.sync.Snapshot(partition, staging)
}
