package acme

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// TestTXTFollowsTheBucket: values present before Start are replayed, later
// puts and deletes apply, names match in any case, and a value older than
// the bucket's TTL is no longer answered. The bucket may appear after Start.
func TestTXTFollowsTheBucket(t *testing.T) {
	s := natstest.RunServer(t)
	js, err := jetstream.New(natstest.Connect(t, s))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	txt := NewTXT(js, nil)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	txt.now = func() time.Time { return time.Unix(0, now.Load()) }
	if err := txt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = txt.Stop(context.Background()) })
	if got := txt.ChallengeTXT("_acme-challenge.example.com."); got != nil {
		t.Fatalf("values before the bucket exists: %q", got)
	}

	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: natsutil.ACMEDNS01Bucket})
	if err != nil {
		t.Fatal(err)
	}
	wait := func(name string, want ...string) {
		t.Helper()
		natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			got := txt.ChallengeTXT(name)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				return fmt.Errorf("%s: %q, want %q", name, got, want)
			}
			return nil
		})
	}
	if _, err := kv.Put(ctx, "_acme-challenge.example.com.tokA", []byte("a")); err != nil {
		t.Fatal(err)
	}
	wait("_acme-challenge.example.com.", "a") // bound after the bucket appeared
	if _, err := kv.Put(ctx, "_acme-challenge.example.com.tokB", []byte("b")); err != nil {
		t.Fatal(err)
	}
	wait("_ACME-CHALLENGE.Example.com", "a", "b") // any case, trailing dot optional
	if got := txt.ChallengeTXT("_acme-challenge.www.example.com."); got != nil {
		t.Fatalf("another name answered %q", got)
	}
	if err := kv.Delete(ctx, "_acme-challenge.example.com.tokA"); err != nil {
		t.Fatal(err)
	}
	wait("_acme-challenge.example.com.", "b")

	// A second follower replays what is there.
	again := NewTXT(js, nil)
	if err := again.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer again.Stop(context.Background())
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if got := again.ChallengeTXT("_acme-challenge.example.com."); !slices.Equal(got, []string{"b"}) {
			return fmt.Errorf("replayed %q", got)
		}
		return nil
	})

	// Past the bucket's TTL the value is forgotten, delete or not.
	now.Add(int64(DNS01MaxAge + time.Minute))
	if got := txt.ChallengeTXT("_acme-challenge.example.com."); got != nil {
		t.Fatalf("expired value answered: %q", got)
	}
}

// FuzzApplyKey: any bucket key is either ignored or answered under the
// owner it names, and its delete removes it again.
func FuzzApplyKey(f *testing.F) {
	for _, k := range []string{"_acme-challenge.example.com.tok", "a.b", ".tok", "nodot", "_ACME-challenge.X.tok", "a..b", ""} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		owners := map[string]map[string]txtValue{}
		apply(owners, entry{key: key, value: "v", op: jetstream.KeyValuePut})
		if len(owners) > 1 {
			t.Fatalf("one key made %d owners", len(owners))
		}
		for owner, vs := range owners {
			if owner == "" || owner[len(owner)-1] != '.' || vs[key].value != "v" {
				t.Fatalf("key %q: owner %q values %v", key, owner, vs)
			}
		}
		apply(owners, entry{key: key, op: jetstream.KeyValueDelete})
		if len(owners) != 0 {
			t.Fatalf("delete of %q left %v", key, owners)
		}
	})
}

// entry is a KV entry as a watch delivers it.
type entry struct {
	key, value string
	op         jetstream.KeyValueOp
}

func (e entry) Bucket() string                  { return natsutil.ACMEDNS01Bucket }
func (e entry) Key() string                     { return e.key }
func (e entry) Value() []byte                   { return []byte(e.value) }
func (e entry) Revision() uint64                { return 1 }
func (e entry) Created() time.Time              { return time.Now() }
func (e entry) Delta() uint64                   { return 0 }
func (e entry) Operation() jetstream.KeyValueOp { return e.op }
func (e entry) Headers() map[string][]string    { return nil }
