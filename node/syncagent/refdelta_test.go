package syncagent_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/store"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// ref is the small message standing for d when d lives in the bucket.
func ref(d *syncv1.Delta) *syncv1.Delta {
	return &syncv1.Delta{PartitionId: d.PartitionId, Staging: d.Staging, FromVersion: d.FromVersion,
		ToVersion: d.ToVersion, Schema: d.Schema, Object: natsutil.DeltaObjectKey(d.Staging, d.ToVersion)}
}

// TestReferencedDelta (issue 11.1): a delta larger than NATS's 1 MiB max
// payload, stored in the partition's bucket and announced by a small
// message naming it, is applied like any delta; one whose object is gone
// (expired, or given up on by the control plane) makes the node re-sync
// from the snapshot instead of stalling.
func TestReferencedDelta(t *testing.T) {
	h := startHub(t, 0)
	p := newPublisher(t, h)
	n := startNode(t, h, "n1", nodeOpts{})
	waitVersion(t, n, p, p.release())

	big := p.change()
	app := &configv1.App{Id: "huge", Name: "huge", Release: big.ToVersion, Labels: map[string]string{"blob": strings.Repeat("x", 2<<20)}}
	big.Upserts = append(big.Upserts, store.Resource(app, big.ToVersion))
	p.mu.Lock()
	p.apps[app.Id] = app
	p.mu.Unlock()
	data, err := proto.Marshal(big)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.obs.PutBytes(ctx, natsutil.DeltaObjectKey(false, big.ToVersion), data); err != nil {
		t.Fatal(err)
	}
	p.publish(ref(big), big.ToVersion)
	waitVersion(t, n, p, big.ToVersion)
	if got := n.rec.last().GetApps(); !containsApp(got, "huge", 2<<20) {
		t.Fatalf("the referenced delta's 2 MiB app is not in the applied snapshot")
	}
	if st := n.agent.Stats(); st.Gaps != 0 {
		t.Fatalf("stats = %+v: the referenced delta was not applied as a delta", st)
	}

	lost := p.change() // announced, but its object never stored
	p.publish(ref(lost), lost.ToVersion)
	natstest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if n.agent.Stats().Gaps == 0 {
			return errors.New("missing object not noticed")
		}
		return nil
	})
	p.putSnapshot()
	waitVersion(t, n, p, lost.ToVersion)
	v := p.release()
	waitVersion(t, n, p, v)
	strictlyIncreasing(t, n.rec.versions())
}

func containsApp(apps []*configv1.App, id string, labelBytes int) bool {
	for _, a := range apps {
		if a.GetId() == id && len(a.GetLabels()["blob"]) == labelBytes {
			return true
		}
	}
	return false
}
