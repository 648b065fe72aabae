package natsauth_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/strata-edge/strata/pkg/natsauth"
	"github.com/strata-edge/strata/pkg/natsauth/natsauthtest"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// fixture is a hub holding the sync stream and two partitions' buckets, and
// one node of partition "p1" connected through its own leaf server.
type fixture struct {
	hub     *natsauthtest.Hub
	control *nats.Conn
	hubJS   jetstream.JetStream
	nodeKey nkeys.KeyPair
	nodeJWT string
	node    *nats.Conn
	nodeJS  jetstream.JetStream
	// seqs are the stream sequences of p1's stable deltas, in order.
	seqs []uint64
	// snapshot is the content of p1's stable snapshot object.
	snapshot []byte
}

const (
	nodeID    = "n1"
	partition = "p1"
	otherPart = "p2"
)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	auth, err := natsauth.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatalf("LoadOrCreate: %v", err)
	}
	f := &fixture{hub: natsauthtest.RunHub(t, auth)}
	f.control = f.hub.ControlConn(t)
	if f.hubJS, err = jetstream.New(f.control); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := f.hubJS.CreateStream(ctx, jetstream.StreamConfig{
		Name:     natsutil.SyncStream,
		Subjects: []string{natsutil.SyncSubjects},
	}); err != nil {
		t.Fatalf("create sync stream: %v", err)
	}
	for i := range 3 {
		for _, p := range []string{partition, otherPart} {
			ack, err := f.hubJS.Publish(ctx, natsutil.DeltaSubject(p, false), fmt.Appendf(nil, "%s-delta-%d", p, i))
			if err != nil {
				t.Fatalf("publish delta: %v", err)
			}
			if p == partition {
				f.seqs = append(f.seqs, ack.Sequence)
			}
		}
	}
	if _, err := f.hubJS.CreateStream(ctx, jetstream.StreamConfig{
		Name:     natsutil.PurgeStream,
		Subjects: []string{natsutil.PurgeSubjects},
	}); err != nil {
		t.Fatalf("create purge stream: %v", err)
	}
	for _, p := range []string{partition, otherPart} {
		if _, err := f.hubJS.Publish(ctx, natsutil.PurgeSubject(p), []byte(p+"-purge")); err != nil {
			t.Fatalf("publish purge: %v", err)
		}
	}
	// Larger than one object chunk (128 KiB), so that chunks and flow control
	// cross the leaf link.
	f.snapshot = bytes.Repeat([]byte("snapshot-p1 "), 200_000)
	for _, p := range []string{partition, otherPart} {
		obs, err := f.hubJS.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: natsutil.SnapshotBucket(p)})
		if err != nil {
			t.Fatalf("create bucket: %v", err)
		}
		content := f.snapshot
		if p != partition {
			content = []byte("secret of p2")
		}
		if _, err := obs.PutBytes(ctx, natsutil.SnapshotKey(false), content); err != nil {
			t.Fatalf("put snapshot: %v", err)
		}
	}

	if f.nodeKey, err = nkeys.CreateUser(); err != nil {
		t.Fatal(err)
	}
	pub, _ := f.nodeKey.PublicKey()
	if f.nodeJWT, err = auth.NodeUser(nodeID, partition, pub); err != nil {
		t.Fatalf("NodeUser: %v", err)
	}
	leaf := natsauthtest.RunLeaf(t, f.hub.LeafURL, f.nodeJWT, f.nodeKey)
	f.node = natsauthtest.NodeConn(t, leaf, nodeID)
	if f.nodeJS, err = jetstream.NewWithDomain(f.node, natsutil.HubDomain); err != nil {
		t.Fatal(err)
	}
	// Interest in the hub's JetStream API reaches the leaf shortly after the
	// link is up.
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := f.nodeJS.Stream(ctx, natsutil.SyncStream)
		return err
	})
	return f
}

// ctx returns a context for one denied call: denied requests either fail at
// once or time out, and a short timeout keeps the test fast.
func shortCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestNodeCatchesUpOnItsPartition(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()

	info, err := f.nodeJS.Stream(ctx, natsutil.SyncStream)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	if info.CachedInfo().State.FirstSeq != 1 {
		t.Fatalf("first seq = %d", info.CachedInfo().State.FirstSeq)
	}

	// Catch up from the second delta, as a node that applied the first.
	cons, err := f.nodeJS.OrderedConsumer(ctx, natsutil.SyncStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{natsutil.DeltaSubject(partition, false)},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    f.seqs[1],
	})
	if err != nil {
		t.Fatalf("ordered consumer: %v", err)
	}
	for i := 1; i < 3; i++ {
		msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("next delta %d: %v", i, err)
		}
		if want := fmt.Sprintf("p1-delta-%d", i); string(msg.Data()) != want {
			t.Fatalf("delta %d = %q, want %q", i, msg.Data(), want)
		}
		meta, _ := msg.Metadata()
		if meta.Sequence.Stream != f.seqs[i] {
			t.Fatalf("delta %d at seq %d, want %d", i, meta.Sequence.Stream, f.seqs[i])
		}
	}

	obs, err := f.nodeJS.ObjectStore(ctx, natsutil.SnapshotBucket(partition))
	if err != nil {
		t.Fatalf("open own bucket: %v", err)
	}
	got, err := obs.GetBytes(ctx, natsutil.SnapshotKey(false))
	if err != nil {
		t.Fatalf("get own snapshot: %v", err)
	}
	if !bytes.Equal(got, f.snapshot) {
		t.Fatalf("snapshot: got %d bytes, want %d", len(got), len(f.snapshot))
	}
}

func TestNodeReceivesOwnDeltasLive(t *testing.T) {
	f := newFixture(t)
	sub, err := f.node.SubscribeSync(natsutil.DeltaSubject(partition, true))
	if err != nil {
		t.Fatal(err)
	}
	// The subscription's interest reaches the hub asynchronously.
	natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if err := f.control.Publish(natsutil.DeltaSubject(partition, true), []byte("live")); err != nil {
			return err
		}
		if _, err := sub.NextMsg(50 * time.Millisecond); err != nil {
			return fmt.Errorf("no live delta yet: %w", err)
		}
		return nil
	})
}

func TestNodeStatusReachesHub(t *testing.T) {
	f := newFixture(t)
	own, err := f.control.SubscribeSync(natsutil.NodeStatusSubject(nodeID))
	if err != nil {
		t.Fatal(err)
	}
	other, err := f.control.SubscribeSync(natsutil.NodeStatusSubject("n2"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.control.Flush(); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		// Publish the forbidden one first: messages on one link stay in order,
		// so once the own status arrived the other one would have too.
		if err := f.node.Publish(natsutil.NodeStatusSubject("n2"), []byte("spoof")); err != nil {
			return err
		}
		if err := f.node.Publish(natsutil.NodeStatusSubject(nodeID), []byte("ok")); err != nil {
			return err
		}
		if _, err := own.NextMsg(50 * time.Millisecond); err != nil {
			return fmt.Errorf("own status not received: %w", err)
		}
		return nil
	})
	if msg, err := other.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatalf("hub received another node's status %q from n1", msg.Data)
	}
}

func TestNodeReadsItsPurgesAndAcks(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	// What the purge agent does: an ordered consumer on its partition's
	// subject, its info (caught up?), then the next command.
	cons, err := f.nodeJS.OrderedConsumer(ctx, natsutil.PurgeStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{natsutil.PurgeSubject(partition)},
	})
	if err != nil {
		t.Fatalf("ordered consumer: %v", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatalf("consumer info: %v", err)
	}
	if info.NumPending != 1 {
		t.Fatalf("pending = %d, want 1", info.NumPending)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatalf("next purge: %v", err)
	}
	if string(msg.Data()) != "p1-purge" {
		t.Fatalf("purge = %q", msg.Data())
	}

	acks, err := f.control.SubscribeSync(natsutil.PurgeAckAll)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.control.Flush(); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		// The forbidden one first: once the own ack arrived, the other
		// would have too.
		if err := f.node.Publish(natsutil.PurgeAckSubject("n2"), []byte("spoof")); err != nil {
			return err
		}
		if err := f.node.Publish(natsutil.PurgeAckSubject(nodeID), []byte("ack")); err != nil {
			return err
		}
		m, err := acks.NextMsg(50 * time.Millisecond)
		if err != nil {
			return fmt.Errorf("own ack not received: %w", err)
		}
		if m.Subject != natsutil.PurgeAckSubject(nodeID) {
			t.Fatalf("hub received an ack on %s from n1", m.Subject)
		}
		return nil
	})
	for {
		m, err := acks.NextMsg(100 * time.Millisecond)
		if err != nil {
			break
		}
		if m.Subject != natsutil.PurgeAckSubject(nodeID) {
			t.Fatalf("hub received an ack on %s from n1", m.Subject)
		}
	}
}

// A node's metrics report is a request on its own subject: the hub's
// responder answers it; a report on another node's subject never arrives.
func TestNodeSendsItsMetricsReports(t *testing.T) {
	f := newFixture(t)
	sub, err := f.control.Subscribe(natsutil.MetricsReportAll, func(m *nats.Msg) {
		_ = m.Respond([]byte("stored " + m.Subject))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := f.control.Flush(); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		reply, err := f.node.Request(natsutil.MetricsReportSubject(nodeID), []byte("report"), 200*time.Millisecond)
		if err != nil {
			return fmt.Errorf("own report not answered: %w", err)
		}
		if want := "stored " + natsutil.MetricsReportSubject(nodeID); string(reply.Data) != want {
			t.Fatalf("reply %q, want %q", reply.Data, want)
		}
		return nil
	})
	if _, err := f.node.Request(natsutil.MetricsReportSubject("n2"), []byte("spoof"), 300*time.Millisecond); err == nil {
		t.Fatal("a report on another node's subject was answered")
	}
}

func TestNodeCannotLeaveItsPartition(t *testing.T) {
	f := newFixture(t)

	t.Run("other partition's deltas by ordered consumer", func(t *testing.T) {
		cons, err := f.nodeJS.OrderedConsumer(shortCtx(t), natsutil.SyncStream, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{natsutil.DeltaSubject(otherPart, false)},
		})
		if err == nil {
			// The ordered consumer is created lazily; fetching must fail.
			if msg, err := cons.Next(jetstream.FetchMaxWait(time.Second)); err == nil {
				t.Fatalf("read other partition's delta %q", msg.Data())
			}
		}
	})
	t.Run("other partition's purges by ordered consumer", func(t *testing.T) {
		cons, err := f.nodeJS.OrderedConsumer(shortCtx(t), natsutil.PurgeStream, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{natsutil.PurgeSubject(otherPart)},
		})
		if err == nil {
			if msg, err := cons.Next(jetstream.FetchMaxWait(time.Second)); err == nil {
				t.Fatalf("read other partition's purge %q", msg.Data())
			}
		}
	})
	t.Run("every purge by unfiltered consumer", func(t *testing.T) {
		cons, err := f.nodeJS.OrderedConsumer(shortCtx(t), natsutil.PurgeStream, jetstream.OrderedConsumerConfig{})
		if err == nil {
			if msg, err := cons.Next(jetstream.FetchMaxWait(time.Second)); err == nil {
				t.Fatalf("read unfiltered purge %q", msg.Data())
			}
		}
	})
	t.Run("publish a purge command", func(t *testing.T) {
		if _, err := f.nodeJS.Publish(shortCtx(t), natsutil.PurgeSubject(partition), []byte("forged purge")); err == nil {
			t.Fatal("node stored a purge command")
		}
		info, err := f.hubJS.Stream(t.Context(), natsutil.PurgeStream)
		if err != nil {
			t.Fatal(err)
		}
		if n := info.CachedInfo().State.Msgs; n != 2 {
			t.Fatalf("purge stream holds %d messages, want 2", n)
		}
	})
	t.Run("every delta by unfiltered consumer", func(t *testing.T) {
		cons, err := f.nodeJS.OrderedConsumer(shortCtx(t), natsutil.SyncStream, jetstream.OrderedConsumerConfig{})
		if err == nil {
			if msg, err := cons.Next(jetstream.FetchMaxWait(time.Second)); err == nil {
				t.Fatalf("read unfiltered delta %q", msg.Data())
			}
		}
	})
	t.Run("filter subject in body differs from subject", func(t *testing.T) {
		// The subject names p1's filter but the body asks for p2's: the
		// server must refuse the mismatch.
		req := fmt.Sprintf(`{"stream_name":%q,"config":{"name":"sneaky","filter_subject":%q,"deliver_policy":"all","ack_policy":"none"}}`,
			natsutil.SyncStream, natsutil.DeltaSubject(otherPart, false))
		subj := "$JS.hub.API.CONSUMER.CREATE." + natsutil.SyncStream + ".sneaky." + natsutil.DeltaSubject(partition, false)
		msg, err := f.node.Request(subj, []byte(req), 2*time.Second)
		if err != nil {
			t.Fatalf("request: %v", err)
		}
		if !bytes.Contains(msg.Data, []byte(`"error"`)) {
			t.Fatalf("consumer with mismatched filter accepted: %s", msg.Data)
		}
	})
	t.Run("legacy create without filter in subject", func(t *testing.T) {
		req := fmt.Sprintf(`{"stream_name":%q,"config":{"filter_subject":%q,"deliver_policy":"all","ack_policy":"none"}}`,
			natsutil.SyncStream, natsutil.DeltaSubject(otherPart, false))
		if msg, err := f.node.Request("$JS.hub.API.CONSUMER.CREATE."+natsutil.SyncStream, []byte(req), time.Second); err == nil {
			t.Fatalf("legacy consumer create answered: %s", msg.Data)
		}
	})
	t.Run("other partition's bucket", func(t *testing.T) {
		ctx := shortCtx(t)
		obs, err := f.nodeJS.ObjectStore(ctx, natsutil.SnapshotBucket(otherPart))
		if err == nil {
			if got, err := obs.GetBytes(ctx, natsutil.SnapshotKey(false)); err == nil {
				t.Fatalf("read other partition's snapshot %q", got)
			}
		}
	})
	t.Run("other partition's bucket by direct get", func(t *testing.T) {
		stream := natsauth.ObjectStream(natsutil.SnapshotBucket(otherPart))
		if msg, err := f.node.Request("$JS.hub.API.DIRECT.GET."+stream, []byte(`{"seq":1}`), time.Second); err == nil {
			t.Fatalf("direct get on other bucket answered: %q", msg.Data)
		}
	})
	t.Run("create stream", func(t *testing.T) {
		_, err := f.nodeJS.CreateStream(shortCtx(t), jetstream.StreamConfig{Name: "EVIL", Subjects: []string{"evil.>"}})
		if err == nil {
			t.Fatal("node created a stream")
		}
		if _, err := f.hubJS.Stream(t.Context(), "EVIL"); !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Fatalf("stream EVIL on hub: %v, want not found", err)
		}
	})
	t.Run("delete sync stream", func(t *testing.T) {
		_ = f.nodeJS.DeleteStream(shortCtx(t), natsutil.SyncStream)
		if _, err := f.hubJS.Stream(t.Context(), natsutil.SyncStream); err != nil {
			t.Fatalf("sync stream after delete attempt: %v", err)
		}
	})
	t.Run("write own bucket", func(t *testing.T) {
		ctx := shortCtx(t)
		obs, err := f.nodeJS.ObjectStore(ctx, natsutil.SnapshotBucket(partition))
		if err != nil {
			t.Fatalf("open own bucket: %v", err)
		}
		if _, err := obs.PutBytes(ctx, natsutil.SnapshotKey(false), []byte("forged")); err == nil {
			t.Fatal("node wrote its snapshot")
		}
		got, err := f.hubJS.ObjectStore(t.Context(), natsutil.SnapshotBucket(partition))
		if err != nil {
			t.Fatal(err)
		}
		b, err := got.GetBytes(t.Context(), natsutil.SnapshotKey(false))
		if err != nil || !bytes.Equal(b, f.snapshot) {
			t.Fatalf("snapshot after forge attempt: %d bytes, %v", len(b), err)
		}
	})
	t.Run("publish events", func(t *testing.T) {
		sub, err := f.control.SubscribeSync(natsutil.EventsSubjectPrefix + ">")
		if err != nil {
			t.Fatal(err)
		}
		if err := f.control.Flush(); err != nil {
			t.Fatal(err)
		}
		ownStatus, err := f.control.SubscribeSync(natsutil.NodeStatusSubject(nodeID))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.control.Flush(); err != nil {
			t.Fatal(err)
		}
		natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
			if err := f.node.Publish(natsutil.EventsSubjectPrefix+"node.n1", []byte("forged event")); err != nil {
				return err
			}
			if err := f.node.Publish(natsutil.NodeStatusSubject(nodeID), []byte("marker")); err != nil {
				return err
			}
			_, err := ownStatus.NextMsg(50 * time.Millisecond)
			return err
		})
		if msg, err := sub.NextMsg(100 * time.Millisecond); err == nil {
			t.Fatalf("hub received a node's event %q", msg.Data)
		}
	})
	t.Run("subscribe other partition's live deltas", func(t *testing.T) {
		other, err := f.node.SubscribeSync(natsutil.DeltaSubject(otherPart, false))
		if err != nil {
			t.Fatal(err)
		}
		own, err := f.node.SubscribeSync(natsutil.DeltaSubject(partition, false))
		if err != nil {
			t.Fatal(err)
		}
		natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
			if err := f.control.Publish(natsutil.DeltaSubject(otherPart, false), []byte("p2 live")); err != nil {
				return err
			}
			if err := f.control.Publish(natsutil.DeltaSubject(partition, false), []byte("p1 live")); err != nil {
				return err
			}
			_, err := own.NextMsg(50 * time.Millisecond)
			return err
		})
		if msg, err := other.NextMsg(100 * time.Millisecond); err == nil {
			t.Fatalf("node received other partition's live delta %q", msg.Data)
		}
	})

	t.Run("push consumer redirected to the JetStream API or a status subject", func(t *testing.T) {
		// JetStream does not check a push consumer's deliver subject against
		// its creator's permissions: a node can have the hub deliver its own
		// partition's data (which it may read anyway) to any subject that has
		// a subscriber. The JetStream API must not act on such deliveries,
		// and they must be recognizable (the stream's subject, a "$JS.ACK."
		// reply) so that control-plane subscribers such as the heartbeat
		// receiver drop them.
		ctx := t.Context()
		probe, err := f.hubJS.CreateStream(ctx, jetstream.StreamConfig{Name: "PROBE", Subjects: []string{"probe.>"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.hubJS.Publish(ctx, "probe.one", []byte("keep me")); err != nil {
			t.Fatal(err)
		}
		for i, deliver := range []string{"$JS.API.STREAM.DELETE.PROBE", "$JS.API.STREAM.PURGE.PROBE", natsutil.NodeStatusSubject("n2")} {
			// A plain subscriber makes the delivery happen and tells when.
			barrier, err := f.control.SubscribeSync(deliver)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.control.Flush(); err != nil {
				t.Fatal(err)
			}
			name := fmt.Sprintf("redirect%d", i)
			req := fmt.Sprintf(`{"stream_name":%q,"config":{"name":%q,"deliver_subject":%q,"filter_subject":%q,"deliver_policy":"all","ack_policy":"none"}}`,
				natsutil.SyncStream, name, deliver, natsutil.DeltaSubject(partition, false))
			subj := "$JS.hub.API.CONSUMER.CREATE." + natsutil.SyncStream + "." + name + "." + natsutil.DeltaSubject(partition, false)
			if _, err := f.node.Request(subj, []byte(req), 2*time.Second); err != nil {
				t.Fatalf("create push consumer: %v", err)
			}
			msg, err := barrier.NextMsg(5 * time.Second)
			if err != nil {
				t.Fatalf("delivery to %s: %v", deliver, err)
			}
			if !strings.HasPrefix(msg.Reply, "$JS.ACK.") || msg.Subject != natsutil.DeltaSubject(partition, false) {
				t.Fatalf("redirected delivery to %s: subject %q reply %q, want the delta subject and a $JS.ACK. reply", deliver, msg.Subject, msg.Reply)
			}
		}
		info, err := probe.Info(ctx)
		if err != nil {
			t.Fatalf("probe stream after redirected deliveries: %v", err)
		}
		if n := info.State.Msgs; n != 1 {
			t.Fatalf("probe stream holds %d messages, want 1", n)
		}
	})

	// The denied attempts above did not cost the node its link.
	if _, err := f.nodeJS.Stream(t.Context(), natsutil.SyncStream); err != nil {
		t.Fatalf("node lost access after denied attempts: %v", err)
	}
}

// A node receives its own partition's gateway address sets, never another
// partition's, and cannot publish one (only the nodes service may).
func TestNodeGatewaySubjects(t *testing.T) {
	f := newFixture(t)
	t.Run("receives own partition's gateways, not another's", func(t *testing.T) {
		other, err := f.node.SubscribeSync(natsutil.GatewaysSubject(otherPart))
		if err != nil {
			t.Fatal(err)
		}
		own, err := f.node.SubscribeSync(natsutil.GatewaysSubject(partition))
		if err != nil {
			t.Fatal(err)
		}
		natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
			// The forbidden one first: once the own one arrived, the other
			// would have too.
			if err := f.control.Publish(natsutil.GatewaysSubject(otherPart), []byte("p2 gateways")); err != nil {
				return err
			}
			if err := f.control.Publish(natsutil.GatewaysSubject(partition), []byte("p1 gateways")); err != nil {
				return err
			}
			if _, err := own.NextMsg(50 * time.Millisecond); err != nil {
				return fmt.Errorf("own gateways not received: %w", err)
			}
			return nil
		})
		if msg, err := other.NextMsg(100 * time.Millisecond); err == nil {
			t.Fatalf("node received other partition's gateways %q", msg.Data)
		}
	})
	t.Run("cannot publish gateways", func(t *testing.T) {
		forged, err := f.control.SubscribeSync(natsutil.GatewaysSubject(partition))
		if err != nil {
			t.Fatal(err)
		}
		ownStatus, err := f.control.SubscribeSync(natsutil.NodeStatusSubject(nodeID))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.control.Flush(); err != nil {
			t.Fatal(err)
		}
		natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
			if err := f.node.Publish(natsutil.GatewaysSubject(partition), []byte("forged gateways")); err != nil {
				return err
			}
			if err := f.node.Publish(natsutil.NodeStatusSubject(nodeID), []byte("marker")); err != nil {
				return err
			}
			_, err := ownStatus.NextMsg(50 * time.Millisecond)
			return err
		})
		if msg, err := forged.NextMsg(100 * time.Millisecond); err == nil {
			t.Fatalf("hub received gateways %q published by a node", msg.Data)
		}
	})
}

// TestNodeWatchesDNS01Challenges: a node follows the DNS-01 challenge bucket
// with a KV watch (initial values, then puts and deletes as they happen)
// across its leaf link, and cannot write to it.
func TestNodeWatchesDNS01Challenges(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	hubKV, err := f.hubJS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: natsutil.ACMEDNS01Bucket})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hubKV.Put(ctx, "_acme-challenge.example.com.tok1", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	kv, err := f.nodeJS.KeyValue(ctx, natsutil.ACMEDNS01Bucket)
	if err != nil {
		t.Fatalf("bind bucket: %v", err)
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w.Stop()
	next := func() jetstream.KeyValueEntry {
		t.Helper()
		select {
		case e := <-w.Updates():
			return e
		case <-time.After(5 * time.Second):
			t.Fatal("no watch update")
			return nil
		}
	}
	if e := next(); e == nil || e.Key() != "_acme-challenge.example.com.tok1" || string(e.Value()) != "v1" {
		t.Fatalf("initial value = %v", e)
	}
	if e := next(); e != nil {
		t.Fatalf("want the end of initial values, got %s", e.Key())
	}
	if _, err := hubKV.Put(ctx, "_acme-challenge.example.com.tok2", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if e := next(); e.Key() != "_acme-challenge.example.com.tok2" || e.Operation() != jetstream.KeyValuePut {
		t.Fatalf("update = %s %v", e.Key(), e.Operation())
	}
	if err := hubKV.Delete(ctx, "_acme-challenge.example.com.tok1"); err != nil {
		t.Fatal(err)
	}
	if e := next(); e.Key() != "_acme-challenge.example.com.tok1" || e.Operation() != jetstream.KeyValueDelete {
		t.Fatalf("update = %s %v", e.Key(), e.Operation())
	}
	if _, err := kv.Put(shortCtx(t), "_acme-challenge.example.com.forged", []byte("x")); err == nil {
		t.Fatal("node wrote a DNS-01 challenge")
	}
	if _, err := hubKV.Get(ctx, "_acme-challenge.example.com.forged"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("forged value stored: %v", err)
	}
}
