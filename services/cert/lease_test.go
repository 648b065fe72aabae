package cert

import (
	"errors"
	"testing"
	"time"

	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// TestIssuerLease: of two replicas one holds the lease and keeps it by
// refreshing; the other takes over when the holder hands it over, or when
// the holder vanished and its lease expired.
func TestIssuerLease(t *testing.T) {
	e := newEnv(t)
	mk := func(holder string) *issuer {
		is, err := newIssuer(e.ctx, e.svc, ACMEOptions{Directory: "https://ca.invalid/dir", Holder: holder, LeaseTTL: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return is
	}
	a, b := mk("a"), mk("b")
	if !a.holdLease(e.ctx) {
		t.Fatal("a did not get the free lease")
	}
	if b.holdLease(e.ctx) {
		t.Fatal("b got the lease a holds")
	}
	if !a.holdLease(e.ctx) {
		t.Fatal("a could not refresh its lease")
	}
	// a vanishes without handing over: b waits for the expiry.
	start := time.Now()
	natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if !b.holdLease(e.ctx) {
			return errors.New("b has no lease yet")
		}
		return nil
	})
	if time.Since(start) < 500*time.Millisecond {
		t.Fatalf("b took over after %v, before a's lease expired", time.Since(start))
	}
	if a.holdLease(e.ctx) {
		t.Fatal("a got the lease back while b holds it")
	}
	// b hands over: a takes it at once.
	if err := b.lease.Delete(e.ctx, leaseKey); err != nil {
		t.Fatal(err)
	}
	if !a.holdLease(e.ctx) {
		t.Fatal("a did not get the handed-over lease")
	}
}
