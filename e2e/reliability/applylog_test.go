package reliability

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// step is one version change of a node: a delta (from -> to) or a snapshot
// installed (snapshot set).
type step struct {
	from, to uint64
	snapshot bool
}

// logLine is one slog text line of a node (`strata node --log-level debug`).
type logLine map[string]string

var attrRE = regexp.MustCompile(`([\w.]+)=("(?:[^"\\]|\\.)*"|\S*)`)

// nodeLog parses the node's stderr.
func nodeLog(p *proc) []logLine {
	var out []logLine
	for line := range strings.Lines(p.Stderr.String()) {
		l := logLine{}
		for _, m := range attrRE.FindAllStringSubmatch(line, -1) {
			v := m[2]
			if uq, err := strconv.Unquote(v); err == nil {
				v = uq
			}
			l[m[1]] = v
		}
		if l["msg"] != "" {
			out = append(out, l)
		}
	}
	return out
}

func (l logLine) uint(key string) uint64 {
	n, _ := strconv.ParseUint(l[key], 10, 64)
	return n
}

// trackDeltas reads every delta the hub holds for the partition's stable
// track, in stream order, with the control plane's credentials.
func trackDeltas(t *testing.T, d *dev, partition string) []step {
	t.Helper()
	nc, err := nats.Connect(d.Value(t, "nats"), nats.UserCredentials(d.Value(t, "nats-creds")))
	if err != nil {
		t.Fatalf("connect to the hub: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, natsutil.SyncStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{natsutil.DeltaSubject(partition, false)},
	})
	if err != nil {
		t.Fatalf("read %s: %v", natsutil.SyncStream, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []step
	for pending := info.NumPending; pending > 0; {
		msg, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			t.Fatalf("read %s: %v", natsutil.SyncStream, err)
		}
		md, err := msg.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		delta := &syncv1.Delta{}
		if err := proto.Unmarshal(msg.Data(), delta); err != nil {
			t.Fatalf("delta at stream seq %d: %v", md.Sequence.Stream, err)
		}
		out = append(out, step{from: delta.GetFromVersion(), to: delta.GetToVersion()})
		pending = md.NumPending
	}
	return out
}

// checkVersions: the node's version changes form one chain that starts at
// its first snapshot, applies every delta of the track after it exactly
// once and in order, and never falls back on a snapshot (which would mean
// deltas were lost on the way).
func checkVersions(t *testing.T, node string, track []step, log []logLine) {
	t.Helper()
	var steps []step
	for _, l := range log {
		switch l["msg"] {
		case "applied delta":
			steps = append(steps, step{from: l.uint("from"), to: l.uint("to")})
		case "installed snapshot":
			steps = append(steps, step{from: l.uint("from"), to: l.uint("version"), snapshot: true})
		}
	}
	if len(steps) == 0 || !steps[0].snapshot {
		t.Errorf("node %s: first version change %v, want its bootstrap snapshot", node, steps)
		return
	}
	start := steps[0].to
	var want []step
	for _, s := range track {
		if s.from >= start {
			want = append(want, s)
		}
	}
	got := steps[1:]
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("node %s from version %d applied\n  %v\nwant the track's deltas once each, in order\n  %v", node, start, got, want)
	}
}

// checkPurges: the node applied each purge exactly once and nothing else.
func checkPurges(t *testing.T, node string, purges []string, log []logLine) {
	t.Helper()
	applied := map[string]int{}
	for _, l := range log {
		if l["msg"] == "purge agent: applied purge" {
			applied[l["purge"]]++
		}
	}
	for _, id := range purges {
		if applied[id] != 1 {
			t.Errorf("node %s applied purge %s %d times, want once", node, id, applied[id])
		}
	}
	if len(applied) != len(purges) {
		t.Errorf("node %s applied %d distinct purges, want the %d issued: %v", node, len(applied), len(purges), applied)
	}
}
