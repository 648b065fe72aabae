package natsauth_test

import (
	"testing"

	"github.com/nats-io/nkeys"

	"github.com/strata-edge/strata/pkg/natsauth"
)

// BenchmarkNodeUser measures issuing one node's user JWT (an ed25519
// signature over the claims), the cost of every approved Join.
func BenchmarkNodeUser(b *testing.B) {
	auth, err := natsauth.LoadOrCreate(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := auth.NodeUser("node_abc", "part_main", pub); err != nil {
			b.Fatal(err)
		}
	}
}
