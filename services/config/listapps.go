package config

import (
	"slices"
	"strings"
	"time"

	"github.com/tidwall/btree"
	"google.golang.org/protobuf/types/known/timestamppb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/pkg/listfilter"
)

// appList is the read model's listing index of apps (issue 15), so that
// ListApps pages and searches domains without scanning every app: apps in
// their list order (name, id) and the working copies' domains, exact and
// reversed (for suffix searches such as domains:"*.example.com"). What
// each app holds in it is its appEntry's listed (no map of its own: a
// million apps made that map ~100 B per app).
type appList struct {
	order    *btree.BTreeG[appKey]
	byDomain map[string][]string   // domain -> ids
	reversed *btree.BTreeG[string] // reverse(domain) + "\x00" + id
}

type appKey struct{ name, id string }

func (k appKey) token() string { return listfilter.Key(k.name, k.id) }

// appListed is what an app holds in the listing index (zero: nothing).
type appListed struct {
	key     appKey
	domains []string
}

func newAppList() *appList {
	return &appList{
		order:    btree.NewBTreeGOptions(func(a, b appKey) bool { return a.name < b.name || (a.name == b.name && a.id < b.id) }, btree.Options{NoLocks: true}),
		byDomain: map[string][]string{},
		reversed: btree.NewBTreeGOptions(func(a, b string) bool { return a < b }, btree.Options{NoLocks: true}),
	}
}

func reverse(s string) string {
	b := []byte(s)
	slices.Reverse(b)
	return string(b)
}

// update re-indexes an app after an event: absent unless it exists, under
// the working copy's name and domains.
func (l *appList) update(entry *appEntry) {
	a := entry.agg
	id := a.id
	old, had := entry.listed, entry.listed.key.id != ""
	var cur appListed
	if a.Exists() {
		d := a.draftView()
		cur = appListed{key: appKey{d.GetName(), id}, domains: d.GetDomains()}
	}
	if had && old.key == cur.key && slices.Equal(old.domains, cur.domains) {
		return
	}
	if had {
		l.order.Delete(old.key)
		for _, d := range old.domains {
			l.byDomain[d] = remove(l.byDomain[d], id)
			if len(l.byDomain[d]) == 0 {
				delete(l.byDomain, d)
			}
			l.reversed.Delete(reverse(d) + "\x00" + id)
		}
		entry.listed = appListed{}
	}
	if !a.Exists() {
		return
	}
	// The working copy's domain list is never changed in place (a change
	// sets a new list), so it is kept without a copy.
	l.order.Set(cur.key)
	for _, d := range cur.domains {
		if !slices.Contains(l.byDomain[d], id) {
			l.byDomain[d] = append(l.byDomain[d], id)
		}
		l.reversed.Set(reverse(d) + "\x00" + id)
	}
	entry.listed = cur
}

// maxCandidates bounds the ids a domain index lookup collects before the
// listing falls back to walking the apps in order.
const maxCandidates = 10000

// candidates are the ids of the apps a domain term of the filter allows
// (ok false: no usable term, or too many for the index to help).
func (l *appList) candidates(f *listfilter.Filter[*appView]) (ids []string, ok bool) {
	for _, c := range f.Conjuncts() {
		if c.Field != "domains" || (c.Op != listfilter.OpHas && c.Op != listfilter.OpEq) {
			continue
		}
		p := listfilter.Compile(c.Value)
		if !p.Wild() {
			return l.byDomain[p.Literal()], true
		}
		suffix, isSuffix := p.Suffix()
		if !isSuffix || suffix == "" {
			continue
		}
		prefix := reverse(suffix)
		ok = true
		l.reversed.Ascend(prefix, func(k string) bool {
			if !strings.HasPrefix(k, prefix) {
				return false
			}
			if len(ids) == maxCandidates {
				ok = false
				return false
			}
			ids = append(ids, k[strings.LastIndexByte(k, 0)+1:])
			return true
		})
		if ok {
			slices.Sort(ids)
			return slices.Compact(ids), true
		}
	}
	return nil, false
}

// appView is what an app filter reads.
type appView struct {
	id    string
	entry *appEntry
	st    *state
}

func (v *appView) draft() *configv1.App { return v.entry.agg.draftView() }

var appSchema = listfilter.Schema[*appView]{
	"id":      listfilter.String(func(v *appView) string { return v.id }),
	"name":    listfilter.String(func(v *appView) string { return v.draft().GetName() }),
	"domains": listfilter.Strings(func(v *appView) []string { return v.draft().GetDomains() }),
	// A partition matches by id or name.
	"partition": listfilter.Strings(func(v *appView) []string {
		ids := v.draft().GetPartitionIds()
		out := make([]string, 0, 2*len(ids))
		for _, id := range ids {
			out = append(out, id)
			if p := v.st.partitions[id]; p != nil {
				out = append(out, p.Name)
			}
		}
		return out
	}),
	"labels":          listfilter.Map(func(v *appView) map[string]string { return v.draft().GetLabels() }),
	"unreleased":      listfilter.Bool(func(v *appView) bool { return v.entry.agg.Pending() > 0 }),
	"pending_changes": listfilter.Number(func(v *appView) float64 { return float64(v.entry.agg.Pending()) }),
	"deleted":         listfilter.Bool(func(v *appView) bool { return v.entry.agg.Deleted() }),
	"latest_release":  listfilter.Number(func(v *appView) float64 { return float64(v.entry.agg.LatestRelease()) }),
	"stable_release":  listfilter.Number(func(v *appView) float64 { return float64(v.entry.agg.StableRelease()) }),
	"staging_release": listfilter.Number(func(v *appView) float64 { return float64(v.entry.agg.StagingRelease()) }),
	"version":         listfilter.Number(func(v *appView) float64 { return float64(v.entry.agg.Version()) }),
	"updated_at":      listfilter.Time(func(v *appView) time.Time { return v.entry.updated }),
	"created_at":      listfilter.Time(func(v *appView) time.Time { return v.entry.created }),
	"role":            listfilter.String(func(v *appView) string { return roleOf(v.draft()) }),
}

func (v *appView) summary() *configv1.AppSummary {
	a, d := v.entry.agg, v.draft()
	s := &configv1.AppSummary{
		Id: v.id, Name: d.GetName(), Domains: slices.Clone(d.GetDomains()), PartitionIds: slices.Clone(d.GetPartitionIds()),
		LatestRelease: a.LatestRelease(), PendingChanges: uint32(a.Pending()), Version: a.Version(), Deleted: a.Deleted(),
		StableRelease: a.StableRelease(), StagingRelease: a.StagingRelease(), Role: roleOf(d),
	}
	if len(d.GetLabels()) > 0 {
		s.Labels = make(map[string]string, len(d.GetLabels()))
		for k, val := range d.GetLabels() {
			s.Labels[k] = val
		}
	}
	if !v.entry.updated.IsZero() {
		s.UpdatedAt = timestamppb.New(v.entry.updated)
	}
	if !v.entry.created.IsZero() {
		s.CreatedAt = timestamppb.New(v.entry.created)
	}
	return s
}

// listApps answers ListApps: one page, in (name, id) order.
func (p *projection) listApps(req *configv1.ListAppsRequest) (*configv1.ListAppsResponse, error) {
	pg, err := listfilter.Start(appSchema, listfilter.Request{PageSize: req.PageSize, PageToken: req.PageToken, Filter: req.Filter})
	if err != nil {
		return nil, err
	}
	out := &configv1.ListAppsResponse{}
	p.Read(func(st *state) { out.Apps, out.NextPageToken = st.listApps(pg) })
	return out, nil
}

func (st *state) listApps(p *listfilter.Page[*appView]) ([]*configv1.AppSummary, string) {
	l := st.list
	var out []*configv1.AppSummary
	var last appKey
	full := false
	add := func(key appKey) bool {
		e := st.apps[key.id]
		if e == nil {
			return true
		}
		v := &appView{id: key.id, entry: e, st: st}
		if !p.Filter.Match(v) {
			return true
		}
		if len(out) == p.Size {
			full = true
			return false
		}
		out = append(out, v.summary())
		last = key
		return true
	}
	after := func(k appKey) bool { return p.After == "" || k.token() > p.After }
	if ids, ok := l.candidates(p.Filter); ok {
		keys := make([]appKey, 0, len(ids))
		for _, id := range ids {
			if e := st.apps[id]; e != nil && e.listed.key.id != "" && after(e.listed.key) {
				keys = append(keys, e.listed.key)
			}
		}
		slices.SortFunc(keys, func(a, b appKey) int { return strings.Compare(a.token(), b.token()) })
		for _, k := range keys {
			if !add(k) {
				break
			}
		}
	} else {
		var start appKey
		if p.After != "" {
			name, id, _ := strings.Cut(p.After, "\x00")
			start = appKey{name, id}
		}
		l.order.Ascend(start, func(k appKey) bool {
			if !after(k) {
				return true
			}
			return add(k)
		})
	}
	if full {
		return out, p.Token(last.token())
	}
	return out, ""
}
