package reliability

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
)

// eventSeqSeeds x eventSeqSteps commands run in CI (TestEventSequences).
const (
	eventSeqSeeds = 8
	eventSeqSteps = 300
)

// TestEventSequences is the event-sequence fuzzer of the projections: random
// commands (apps, upstreams, rules, releases, promotions, app and object
// reverts, zones, records, zone releases and reverts) against the real
// config and DNS services. Every answer is a success or a refusal a user can
// act on (never internal); every revert restores the content of its target
// release; at the end a revert of a revert restores the original, and
// services started afresh on the same log (a rebuild) answer exactly what
// the live ones answer: apps, releases, zones, records and every partition's
// stable and staging snapshot.
func TestEventSequences(t *testing.T) {
	total := map[string]int{}
	for seed := range uint64(eventSeqSeeds) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			stats := runEventSequence(t, seed, eventSeqSteps)
			for k, v := range stats {
				total[k] += v
			}
		})
	}
	keys := make([]string, 0, len(total))
	for k := range total {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var line string
	for _, k := range keys {
		line += fmt.Sprintf(" %s=%d", k, total[k])
	}
	t.Logf("%d sequences x %d commands; outcomes:%s", eventSeqSeeds, eventSeqSteps, line)
}

// FuzzEventSequences is the same check with the fuzzer choosing the seed
// and the length: go test -fuzz FuzzEventSequences ./e2e/reliability
// (with STRATA_RELIABILITY=1).
func FuzzEventSequences(f *testing.F) {
	f.Add(uint64(100), uint8(40))
	f.Add(uint64(7), uint8(200))
	f.Fuzz(func(t *testing.T, seed uint64, steps uint8) {
		runEventSequence(t, seed, int(steps))
	})
}

// fuzzApp is the fuzzer's model of one app: the content of each release it
// saw made, to check reverts against.
type fuzzApp struct {
	id       string
	releases map[uint64]*configv1.App
}

type fuzzer struct {
	t     *testing.T
	s     *services
	r     *rand.Rand
	apps  []*fuzzApp
	made  int            // apps created, for fresh names
	stats map[string]int // "op:code" -> count
}

func runEventSequence(t *testing.T, seed uint64, steps int) map[string]int {
	ctx, store := newStore(t)
	f := &fuzzer{t: t, s: startServices(t, ctx, store, nil), r: rand.New(rand.NewPCG(seed, 11)), stats: map[string]int{}}
	for range steps {
		f.step()
	}
	f.revertOfRevert()
	live := capture(t, f.s)
	rebuilt := capture(t, startServices(t, ctx, store, nil))
	compareStates(t, live, rebuilt)
	f.stats["states compared"] = len(live)
	return f.stats
}

var (
	fuzzDomains    = []string{"a.fuzz.example.com", "b.fuzz.example.com", "c.fuzz.example.com", "d.fuzz.example.com", "*.w.fuzz.example.com"}
	fuzzWhen       = []string{"", "PathPrefix(`/api`)", "Path(`/x`, `/y`)", "Method(`GET`) && PathPrefix(`/`)", "Host(`a.fuzz.example.com`)", "Header(`X-A`, `1`) || Query(`q`)"}
	fuzzUpstreams  = []string{"web", "api", "img"}
	fuzzRules      = []string{"r1", "r2", "r3", "r4"}
	fuzzZones      = []string{"z1.test", "z2.test"}
	fuzzRecordName = []string{"www", "api", "@", "mail"}
)

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// outcome records err under op and fails on an answer a user cannot act on.
func (f *fuzzer) outcome(op string, err error) bool {
	f.t.Helper()
	c := connect.CodeOf(err)
	if err == nil {
		f.stats[op+":ok"]++
		return true
	}
	switch c {
	case connect.CodeInvalidArgument, connect.CodeFailedPrecondition, connect.CodeNotFound, connect.CodeAlreadyExists, connect.CodeAborted:
		f.stats[op+":"+c.String()]++
		return false
	}
	f.t.Fatalf("%s: %v (want success or a refusal)", op, err)
	return false
}

func (f *fuzzer) app() *fuzzApp {
	if len(f.apps) == 0 {
		return nil
	}
	return pick(f.r, f.apps)
}

func (f *fuzzer) upstream() *configv1.Upstream {
	u := &configv1.Upstream{Name: pick(f.r, fuzzUpstreams)}
	for i := range 1 + f.r.IntN(3) {
		u.Servers = append(u.Servers, &configv1.Server{Address: fmt.Sprintf("127.0.0.%d:%d", 1+i, 8000+f.r.IntN(5)), Weight: uint32(1 + f.r.IntN(3))})
	}
	return u
}

func (f *fuzzer) rule() *configv1.Rule {
	rl := &configv1.Rule{Name: pick(f.r, fuzzRules), When: pick(f.r, fuzzWhen), Last: f.r.IntN(2) == 0}
	if f.r.IntN(3) == 0 {
		rl.Actions = []*configv1.Action{respond(uint32(200+f.r.IntN(3)), fmt.Sprintf("body-%d", f.r.IntN(100)))}
	} else {
		rl.Actions = []*configv1.Action{proxyTo(pick(f.r, fuzzUpstreams))}
	}
	return rl
}

// domains are one of the app's own and, sometimes, one that other apps
// may claim too (a refused claim is an outcome like any other).
func (f *fuzzer) domains() []string {
	ds := []string{fmt.Sprintf("app%d-%d.fuzz.example.com", f.made, f.r.IntN(2))}
	if f.r.IntN(3) == 0 {
		ds = append(ds, pick(f.r, fuzzDomains))
	}
	return ds
}

// step runs one random command.
func (f *fuzzer) step() {
	ctx, c, d := f.s.ctx, f.s.config, f.s.dns
	a := f.app()
	if a == nil || f.r.IntN(12) == 0 {
		f.made++
		res, err := c.CreateApp(ctx, &configv1.CreateAppRequest{Name: fmt.Sprintf("app%d", f.made), Domains: f.domains()})
		if f.outcome("CreateApp", err) {
			f.apps = append(f.apps, &fuzzApp{id: res.GetApp().GetId(), releases: map[uint64]*configv1.App{}})
		}
		return
	}
	var err error
	switch op := f.r.IntN(20); op {
	case 0:
		_, err = c.UpdateApp(ctx, &configv1.UpdateAppRequest{AppId: a.id, Name: f.name(a), Domains: f.domains(),
			Labels: map[string]string{"team": pick(f.r, []string{"a", "b"})}, Partitions: []string{"default"}})
		f.outcome("UpdateApp", err)
	case 1, 2:
		_, err = c.CreateUpstream(ctx, &configv1.CreateUpstreamRequest{AppId: a.id, Upstream: f.upstream()})
		f.outcome("CreateUpstream", err)
	case 3:
		_, err = c.UpdateUpstream(ctx, &configv1.UpdateUpstreamRequest{AppId: a.id, Upstream: f.upstream()})
		f.outcome("UpdateUpstream", err)
	case 4:
		_, err = c.DeleteUpstream(ctx, &configv1.DeleteUpstreamRequest{AppId: a.id, Upstream: pick(f.r, fuzzUpstreams)})
		f.outcome("DeleteUpstream", err)
	case 5, 6:
		_, err = c.CreateRule(ctx, &configv1.CreateRuleRequest{AppId: a.id, Rule: f.rule()})
		f.outcome("CreateRule", err)
	case 7:
		_, err = c.UpdateRule(ctx, &configv1.UpdateRuleRequest{AppId: a.id, Rule: f.rule()})
		f.outcome("UpdateRule", err)
	case 8:
		_, err = c.DeleteRule(ctx, &configv1.DeleteRuleRequest{AppId: a.id, Rule: pick(f.r, fuzzRules)})
		f.outcome("DeleteRule", err)
	case 9:
		_, err = c.MoveRule(ctx, &configv1.MoveRuleRequest{AppId: a.id, Rule: pick(f.r, fuzzRules), Index: uint32(f.r.IntN(4))})
		f.outcome("MoveRule", err)
	case 10, 11, 12:
		res, err := c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: a.id, Note: "fuzz", Staging: f.r.IntN(4) == 0})
		if f.outcome("CreateRelease", err) {
			f.recordRelease(a, res.GetRelease().GetNumber())
		}
	case 13:
		_, err = c.PromoteRelease(ctx, &configv1.PromoteReleaseRequest{AppId: a.id})
		f.outcome("PromoteRelease", err)
	case 14:
		f.revert(a, uint64(1+f.r.IntN(len(a.releases)+1)))
	case 15:
		to := uint64(1 + f.r.IntN(len(a.releases)+1))
		kind := pick(f.r, []string{"upstream", "rule"})
		obj := pick(f.r, fuzzUpstreams)
		if kind == "rule" {
			obj = pick(f.r, fuzzRules)
		}
		res, err := c.RevertObject(ctx, &configv1.RevertObjectRequest{AppId: a.id, Kind: kind, Object: obj, ToRelease: to})
		if f.outcome("RevertObject", err) {
			f.recordRelease(a, res.GetRelease().GetNumber())
		}
	case 16:
		if f.r.IntN(4) == 0 {
			_, err = c.DeleteApp(ctx, &configv1.DeleteAppRequest{AppId: a.id})
			if f.outcome("DeleteApp", err) {
				f.drop(a)
			}
		}
	default: // DNS
		z := pick(f.r, fuzzZones)
		switch f.r.IntN(6) {
		case 0:
			_, err = d.CreateZone(ctx, &dnsv1.CreateZoneRequest{Name: z, Nameservers: []string{"ns1." + z}})
			f.outcome("CreateZone", err)
		case 1, 2:
			rec := &dnsv1.Record{Name: pick(f.r, fuzzRecordName), Type: dnsv1.RecordType_RECORD_TYPE_A, Ttl: 300, Data: fmt.Sprintf("192.0.2.%d", 1+f.r.IntN(50))}
			if f.r.IntN(3) == 0 {
				rec.Type, rec.Data = dnsv1.RecordType_RECORD_TYPE_TXT, fmt.Sprintf("\"v=%d\"", f.r.IntN(9))
			}
			_, err = d.AddRecord(ctx, &dnsv1.AddRecordRequest{Zone: z, Record: rec})
			f.outcome("AddRecord", err)
		case 3:
			recs, err := d.ListRecords(ctx, &dnsv1.ListRecordsRequest{Zone: z})
			if err == nil && len(recs.GetRecords()) > 0 {
				_, err = d.RemoveRecord(ctx, &dnsv1.RemoveRecordRequest{Zone: z, RecordId: pick(f.r, recs.GetRecords()).GetId()})
			}
			f.outcome("RemoveRecord", err)
		case 4:
			_, err = d.CreateRelease(ctx, &dnsv1.CreateReleaseRequest{Zone: z, Note: "fuzz"})
			f.outcome("ZoneRelease", err)
		case 5:
			_, err = d.RevertZone(ctx, &dnsv1.RevertZoneRequest{Zone: z, ToRelease: uint64(1 + f.r.IntN(4))})
			f.outcome("RevertZone", err)
		}
	}
}

func (f *fuzzer) name(a *fuzzApp) string {
	res, err := f.s.config.GetApp(f.s.ctx, &configv1.GetAppRequest{AppId: a.id})
	if err != nil {
		f.t.Fatal(err)
	}
	return res.GetApp().GetName()
}

func (f *fuzzer) drop(a *fuzzApp) {
	for i, x := range f.apps {
		if x == a {
			f.apps = append(f.apps[:i], f.apps[i+1:]...)
			return
		}
	}
}

// released is the app's newest released content without its number.
func (f *fuzzer) released(a *fuzzApp) (*configv1.App, uint64) {
	f.t.Helper()
	res, err := f.s.config.GetApp(f.s.ctx, &configv1.GetAppRequest{AppId: a.id})
	if err != nil {
		f.t.Fatal(err)
	}
	c := proto.Clone(res.GetReleased()).(*configv1.App)
	c.Release = 0
	return c, res.GetLatestRelease()
}

func (f *fuzzer) recordRelease(a *fuzzApp, n uint64) {
	f.t.Helper()
	c, latest := f.released(a)
	if latest != n {
		f.t.Fatalf("app %s: release %d answered, latest release %d", a.id, n, latest)
	}
	a.releases[n] = c
}

// revert reverts a to release to and checks the content is that release's.
func (f *fuzzer) revert(a *fuzzApp, to uint64) bool {
	f.t.Helper()
	res, err := f.s.config.RevertApp(f.s.ctx, &configv1.RevertAppRequest{AppId: a.id, ToRelease: to})
	if !f.outcome("RevertApp", err) {
		return false
	}
	f.recordRelease(a, res.GetRelease().GetNumber())
	if want, ok := a.releases[to]; ok && !proto.Equal(a.releases[res.GetRelease().GetNumber()], want) {
		f.t.Fatalf("app %s: revert to %d made content\n%v\nwant release %d's\n%v", a.id, to, a.releases[res.GetRelease().GetNumber()], to, want)
	}
	f.stats["reverts checked"]++
	return true
}

// revertOfRevert: for every app with two releases seen, revert to an older
// one and then to the newest; the newest content is back.
func (f *fuzzer) revertOfRevert() {
	for _, a := range f.apps {
		var nums []uint64
		for n := range a.releases {
			nums = append(nums, n)
		}
		if len(nums) < 2 {
			continue
		}
		sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
		newest := nums[len(nums)-1]
		if f.revert(a, pick(f.r, nums[:len(nums)-1])) && f.revert(a, newest) {
			f.stats["revert-of-revert held"]++
		}
	}
}

// capture reads everything a user can read from the services, by name.
func capture(t *testing.T, s *services) map[string]proto.Message {
	t.Helper()
	ctx := s.ctx
	out := map[string]proto.Message{}
	must := func(key string, m proto.Message, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		out[key] = m
	}
	parts, err := s.config.ListPartitions(ctx, &configv1.ListPartitionsRequest{})
	must("partitions", parts, err)
	clusters, err := s.config.ListClusters(ctx, &configv1.ListClustersRequest{})
	must("clusters", clusters, err)
	apps, err := s.config.ListApps(ctx, &configv1.ListAppsRequest{})
	must("apps", apps, err)
	for _, a := range apps.GetApps() {
		got, err := s.config.GetApp(ctx, &configv1.GetAppRequest{AppId: a.GetId()})
		must("app "+a.GetId(), got, err)
		rels, err := s.config.ListReleases(ctx, &configv1.ListReleasesRequest{AppId: a.GetId()})
		must("releases "+a.GetId(), rels, err)
	}
	for _, p := range parts.GetPartitions() {
		for _, staging := range []bool{false, true} {
			key := fmt.Sprintf("snapshot %s staging=%v", p.GetName(), staging)
			res, err := s.config.GetSnapshot(ctx, &configv1.GetSnapshotRequest{Partition: p.GetId(), Staging: staging})
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			snap := &syncv1.Snapshot{}
			if err := protojson.Unmarshal([]byte(res.GetJson()), snap); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			res.Json = ""
			out[key] = res
			out[key+" content"] = snap
		}
	}
	zones, err := s.dns.ListZones(ctx, &dnsv1.ListZonesRequest{})
	must("zones", zones, err)
	for _, z := range zones.GetZones() {
		got, err := s.dns.GetZone(ctx, &dnsv1.GetZoneRequest{Zone: z.GetName()})
		must("zone "+z.GetName(), got, err)
		rels, err := s.dns.ListReleases(ctx, &dnsv1.ListReleasesRequest{Zone: z.GetName()})
		must("zone releases "+z.GetName(), rels, err)
	}
	return out
}

func compareStates(t *testing.T, live, rebuilt map[string]proto.Message) {
	t.Helper()
	for k, m := range live {
		r, ok := rebuilt[k]
		if !ok {
			t.Errorf("%s: live, missing after the rebuild", k)
			continue
		}
		if !proto.Equal(m, r) {
			t.Errorf("%s differs after the rebuild from the log:\nlive    %s\nrebuilt %s", k, clip(protojson.Format(m)), clip(protojson.Format(r)))
		}
	}
	for k := range rebuilt {
		if _, ok := live[k]; !ok {
			t.Errorf("%s: only after the rebuild", k)
		}
	}
}
