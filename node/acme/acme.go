// Package acme answers ACME HTTP-01 challenges on an edge node: the cert
// service publishes each pending challenge (token -> key authorization) to
// the hub's KV bucket natsutil.ACMEHTTP01Bucket, and every node looks tokens
// up there when a CA's validation request reaches its plain HTTP listener
// (proxy.Options.ACMEChallenge). So whichever node a CA's request lands on,
// it is answered.
//
// DNS-01 works the same way through natsutil.ACMEDNS01Bucket, except that
// TXT (dns01.go) keeps a watched in-memory copy, since DNS answers must not
// wait for the hub.
package acme

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-edge/strata/pkg/natsutil"
)

// Responder looks challenge tokens up in the hub's challenge bucket.
type Responder struct {
	js      jetstream.JetStream
	timeout time.Duration
	log     *slog.Logger

	mu sync.Mutex
	kv jetstream.KeyValue // bound on first use: the bucket appears with the first challenge
}

// New returns a responder using js (the hub's JetStream, domain "hub"
// across the leaf link). Each lookup waits at most timeout (default 2 s).
func New(js jetstream.JetStream, timeout time.Duration, log *slog.Logger) *Responder {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	return &Responder{js: js, timeout: timeout, log: log}
}

// KeyAuth returns the key authorization of token, or false when no such
// challenge is pending (or the hub cannot be reached).
func (r *Responder) KeyAuth(token string) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	kv, err := r.bucket(ctx)
	if err != nil {
		if !errors.Is(err, jetstream.ErrBucketNotFound) {
			r.log.Warn("acme: challenge bucket unreachable", "err", err)
		}
		return "", false
	}
	e, err := kv.Get(ctx, token)
	if err != nil {
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			r.log.Warn("acme: challenge lookup failed", "err", err)
		}
		return "", false
	}
	return string(e.Value()), true
}

func (r *Responder) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.kv != nil {
		return r.kv, nil
	}
	kv, err := r.js.KeyValue(ctx, natsutil.ACMEHTTP01Bucket)
	if err != nil {
		return nil, err
	}
	r.kv = kv
	return kv, nil
}
