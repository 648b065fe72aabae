package acme

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-edge/strata/pkg/background"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// DNS01MaxAge is how long a DNS-01 value is served at most: the TTL of the
// hub's bucket. A value whose cleanup never came (a cert service that died
// mid-order) expires from the bucket without a delete marker, so the node
// forgets it by age.
const DNS01MaxAge = time.Hour

// TXT keeps an in-memory copy of the hub's DNS-01 challenge bucket
// (natsutil.ACMEDNS01Bucket), current through a KV watch, so the node's DNS
// server answers _acme-challenge TXT queries without a hub round trip. It
// implements node/dns.ChallengeSource.
type TXT struct {
	js  jetstream.JetStream
	log *slog.Logger
	now func() time.Time

	mu sync.RWMutex
	// owners maps a lower-case owner FQDN ("_acme-challenge.example.com.")
	// to its values by bucket key.
	owners map[string]map[string]txtValue

	bg background.Group
}

type txtValue struct {
	value   string
	created time.Time
}

// NewTXT returns a stopped TXT following the bucket through js (the hub's
// JetStream, domain "hub" across the leaf link).
func NewTXT(js jetstream.JetStream, log *slog.Logger) *TXT {
	if log == nil {
		log = slog.Default()
	}
	return &TXT{js: js, log: log, now: time.Now, owners: map[string]map[string]txtValue{}, bg: background.Group{Name: "acme: DNS-01 watch"}}
}

// Start follows the bucket until Stop. The bucket appears when a cert
// service with ACME starts; until then TXT retries with a backoff.
func (t *TXT) Start(ctx context.Context) error {
	if err := t.bg.Start(ctx); err != nil {
		return err
	}
	t.bg.Go(t.run)
	return nil
}

// Stop ends the watch and waits for it, at most until ctx is done.
func (t *TXT) Stop(ctx context.Context) error { return t.bg.Stop(ctx) }

// ChallengeTXT returns the values pending for name (any case, trailing dot
// optional); nil when none.
func (t *TXT) ChallengeTXT(name string) []string {
	name = strings.ToLower(name)
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	oldest := t.now().Add(-DNS01MaxAge)
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []string
	for _, v := range t.owners[name] {
		if v.created.After(oldest) {
			out = append(out, v.value)
		}
	}
	return out
}

func (t *TXT) run(ctx context.Context) {
	const maxBackoff = 5 * time.Second // a bucket made meanwhile is followed within seconds
	backoff := 500 * time.Millisecond
	started := time.Now()
	for ctx.Err() == nil {
		err := t.watch(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
			t.log.Log(ctx, natsutil.RetryLevel(err, started), "acme: DNS-01 challenge watch", "err", err, "retry_in", backoff)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// watch replays the bucket into a fresh copy, swaps it in once the replay
// is complete, then applies each change until the watch ends.
func (t *TXT) watch(ctx context.Context) error {
	kv, err := t.js.KeyValue(ctx, natsutil.ACMEDNS01Bucket)
	if err != nil {
		return err
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	fresh := map[string]map[string]txtValue{}
	live := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("watch closed")
			}
			if e == nil { // initial values done
				t.mu.Lock()
				t.owners, live = fresh, true
				t.mu.Unlock()
				continue
			}
			if live {
				t.mu.Lock()
			}
			apply(fresh, e)
			if live {
				t.mu.Unlock()
			}
		}
	}
}

// apply adds or removes the value of one bucket entry. Keys are
// "<owner>.<token>"; tokens (base64url) hold no dot.
func apply(owners map[string]map[string]txtValue, e jetstream.KeyValueEntry) {
	key := e.Key()
	i := strings.LastIndexByte(key, '.')
	if i <= 0 {
		return
	}
	owner := strings.ToLower(key[:i]) + "."
	if e.Operation() != jetstream.KeyValuePut {
		delete(owners[owner], key)
		if len(owners[owner]) == 0 {
			delete(owners, owner)
		}
		return
	}
	vs := owners[owner]
	if vs == nil {
		vs = map[string]txtValue{}
		owners[owner] = vs
	}
	vs[key] = txtValue{value: string(e.Value()), created: e.Created()}
}
