package config

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/configevents"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/release"
	"github.com/strata-edge/strata/services/edgesync"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var goldenEpoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// feeder hands events to a projection the way the store subscription does.
type feeder struct {
	t   testing.TB
	p   *projection
	pos uint64
}

func (f *feeder) feed(stream string, msgs ...proto.Message) uint64 {
	f.t.Helper()
	for _, m := range msgs {
		typ, data, err := configevents.Encode(m)
		if err != nil {
			f.t.Fatal(err)
		}
		f.pos++
		e := eventstore.Event{ID: fmt.Sprintf("evt_%d", f.pos), Stream: stream, Type: typ, Data: data, Position: f.pos,
			Metadata: eventstore.Metadata{Actor: "alice", Time: goldenEpoch.Add(time.Duration(f.pos) * time.Second)}}
		if err := f.p.Handle(e); err != nil {
			f.t.Fatal(err)
		}
	}
	return f.pos
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// goldenHistory is a fixed event sequence covering the track rules:
// releases, a staging release and its promotion, an app leaving a
// partition, an object revert, an app revert, and a deletion.
func goldenHistory(f *feeder) {
	pDef := &configv1.Partition{Id: "part_default", Name: "default"}
	pEU := &configv1.Partition{Id: "part_eu", Name: "eu"}
	f.feed(partitionStream(pDef.Id), &ev.PartitionCreated{Partition: pDef})
	f.feed(partitionStream(pEU.Id), &ev.PartitionCreated{Partition: pEU})

	a, b, c := "app_a", "app_b", "app_c"
	web := &configv1.Upstream{Id: "ups_web", Name: "web", Policy: configv1.BalancePolicy_BALANCE_POLICY_ROUND_ROBIN,
		Servers: []*configv1.Server{{Address: "10.0.0.1:80", Weight: 1}}}
	web2 := proto.Clone(web).(*configv1.Upstream)
	web2.Servers[0].Address = "10.0.0.2:80"
	api := &configv1.Rule{Id: "rule_api", Name: "api", When: "PathPrefix(`/api`)", Actions: []*configv1.Action{
		{Action: &configv1.Action_Proxy{Proxy: &configv1.ProxyAction{Upstreams: []*configv1.WeightedUpstream{{Upstream: "web", Weight: 1}}}}}}}

	f.feed(appStream(a),
		&ev.AppCreated{AppId: a, Settings: &ev.AppSettings{Name: "a", Domains: []string{"a.example.com"}, HttpPorts: []uint32{80}, PartitionIds: []string{pDef.Id}}},
		&ev.UpstreamCreated{AppId: a, Upstream: web},
		&ev.RuleCreated{AppId: a, Rule: api},
		&ev.AppReleased{AppId: a, Release: 1, Note: "first"})
	f.feed(appStream(b),
		&ev.AppCreated{AppId: b, Settings: &ev.AppSettings{Name: "b", Domains: []string{"b.example.com"}, HttpsPorts: []uint32{443}, PartitionIds: []string{pDef.Id, pEU.Id}}},
		&ev.AppReleased{AppId: b, Release: 1})
	f.feed(appStream(a),
		&ev.UpstreamUpdated{AppId: a, Upstream: web2},
		&ev.AppReleased{AppId: a, Release: 2, Staging: true},
		&ev.AppReleased{AppId: a, Release: 3, Note: "promote"})
	f.feed(appStream(b),
		&ev.AppUpdated{AppId: b, Settings: &ev.AppSettings{Name: "b", Domains: []string{"b.example.com"}, HttpsPorts: []uint32{443}, PartitionIds: []string{pDef.Id}}},
		&ev.AppReleased{AppId: b, Release: 2})
	f.feed(appStream(a),
		&ev.ObjectReverted{AppId: a, Release: 4, ToRelease: 1, Kind: ev.ObjectKind_OBJECT_KIND_UPSTREAM, ObjectId: web.Id, Upstream: web})
	f.feed(appStream(c),
		&ev.AppCreated{AppId: c, Settings: &ev.AppSettings{Name: "c", Domains: []string{"c.example.com"}, HttpPorts: []uint32{80}, PartitionIds: []string{pEU.Id}}},
		&ev.AppReleased{AppId: c, Release: 1},
		&ev.AppDeleted{AppId: c},
		&ev.AppReleased{AppId: c, Release: 2})
	f.feed(appStream(b), &ev.AppReverted{AppId: b, Release: 3, ToRelease: 1, Content: &configv1.App{Id: b, Name: "b",
		Domains: []string{"b.example.com"}, HttpsPorts: []uint32{443}, PartitionIds: []string{pDef.Id, pEU.Id}}})
}

// TestProjectionGolden folds goldenHistory and compares every track's
// snapshot and delta chain with testdata/golden (refresh with -update).
func TestProjectionGolden(t *testing.T) {
	p := testProjection(true)
	goldenHistory(&feeder{t: t, p: p})
	for _, pid := range []string{"part_default", "part_eu"} {
		for _, staging := range []bool{false, true} {
			name := pid + "." + natsutil.Track(staging)
			t.Run(name, func(t *testing.T) {
				snap := p.snapshot(pid, staging)
				if err := Consistent(snap); err != nil {
					t.Fatal(err)
				}
				deltas := p.sync.Pending(edgesync.Key{Partition: pid, Staging: staging})
				if err := sameApps(applyDeltas(t, pid, staging, deltas), snap); err != nil {
					t.Fatalf("delta chain does not rebuild the snapshot: %v", err)
				}
				js, err := canonicalJSON(snap)
				if err != nil {
					t.Fatal(err)
				}
				golden(t, filepath.Join("testdata", "golden", name+".snapshot.json"), []byte(js))
				golden(t, filepath.Join("testdata", "golden", name+".deltas.json"), deltasJSON(t, deltas))
			})
		}
	}
}

func deltasJSON(t *testing.T, deltas []*syncv1.Delta) []byte {
	t.Helper()
	raw := make([]json.RawMessage, len(deltas))
	for i, d := range deltas {
		raw[i] = readableDelta(t, d)
	}
	out, err := json.MarshalIndent(raw, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the golden file (go test -update refreshes it):\n%s",
			path, release.Diff("golden", "got", string(want), string(got)))
	}
}

// TestProjectionIgnoresForeignAndRepeatedEvents: events of other services
// advance the position only; a repeated position is ignored.
func TestProjectionIgnoresForeignAndRepeatedEvents(t *testing.T) {
	p := testProjection(false)
	f := &feeder{t: t, p: p}
	f.feed("partition.part_x", &ev.PartitionCreated{Partition: &configv1.Partition{Id: "part_x", Name: "x"}})
	if err := p.Handle(eventstore.Event{Position: 2, Type: "dns.zone.created", Data: []byte{1, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	if err := p.Handle(eventstore.Event{Position: 3, Type: configevents.TypePartitionCreated, Data: []byte{0xff, 0xff}}); err != nil {
		t.Fatal(err)
	}
	typ, data, _ := configevents.Encode(&ev.PartitionCreated{Partition: &configv1.Partition{Id: "part_y", Name: "y"}})
	if err := p.Handle(eventstore.Event{Position: 3, Type: typ, Data: data}); err != nil {
		t.Fatal(err)
	}
	if p.Applied() != 3 || len(stateOf(p).partitions) != 1 {
		t.Fatalf("applied %d, partitions %v", p.Applied(), stateOf(p).partitions)
	}
}

// stateOf is p's state, for tests that look inside.
func stateOf(p *projection) (st *state) { p.Read(func(s *state) { st = s }); return st }

// testProjection is a read model on tracks of its own.
func testProjection(publish bool) *projection {
	return newProjection(discardLogger(), edgesync.New(discardLogger(), publish))
}
