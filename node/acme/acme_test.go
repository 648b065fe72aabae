package acme

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

func TestKeyAuth(t *testing.T) {
	s := natstest.RunServer(t)
	js, err := jetstream.New(natstest.Connect(t, s))
	if err != nil {
		t.Fatal(err)
	}
	r := New(js, time.Second, nil)
	if _, ok := r.KeyAuth("tok"); ok {
		t.Fatal("answered before the bucket exists")
	}
	ctx := context.Background()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: natsutil.ACMEHTTP01Bucket})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "tok", []byte("tok.thumb")); err != nil {
		t.Fatal(err)
	}
	if got, ok := r.KeyAuth("tok"); !ok || got != "tok.thumb" {
		t.Fatalf("KeyAuth = %q, %v", got, ok)
	}
	if _, ok := r.KeyAuth("other"); ok {
		t.Fatal("unknown token answered")
	}
	if err := kv.Delete(ctx, "tok"); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.KeyAuth("tok"); ok {
		t.Fatal("removed token answered")
	}
}
