package challenge

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"

	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/pkg/keywrap"
)

// Key is one HMAC key that signs challenge tokens and clearance cookies.
// NotBefore and NotAfter may be zero (no bound).
type Key struct {
	ID        string
	Secret    []byte
	NotBefore time.Time
	NotAfter  time.Time
}

// MinSecret is the shortest secret a key may have.
const MinSecret = 16

// keySet is an immutable set of keys, newest first.
type keySet struct {
	keys  []Key
	byID  map[string]*Key
	local bool // the node's own random key: no key was synced
}

func newKeySet(keys []Key, local bool) (*keySet, error) {
	s := &keySet{byID: make(map[string]*Key, len(keys)), local: local}
	for i, k := range keys {
		if k.ID == "" || len(k.ID) > 64 || !tokenSafe(k.ID) {
			return nil, fmt.Errorf("challenge: keys[%d].id %q: want 1-64 letters, digits, '-' or '_'", i, k.ID)
		}
		if len(k.Secret) < MinSecret {
			return nil, fmt.Errorf("challenge: keys[%d] (id %q): secret is %d bytes, want at least %d", i, k.ID, len(k.Secret), MinSecret)
		}
		if _, dup := s.byID[k.ID]; dup {
			return nil, fmt.Errorf("challenge: keys[%d]: id %q appears twice", i, k.ID)
		}
		k.Secret = slices.Clone(k.Secret)
		s.keys = append(s.keys, k)
		s.byID[k.ID] = &s.keys[len(s.keys)-1]
	}
	slices.SortStableFunc(s.keys, func(a, b Key) int { return b.NotBefore.Compare(a.NotBefore) })
	for i := range s.keys { // the sort moved them
		s.byID[s.keys[i].ID] = &s.keys[i]
	}
	return s, nil
}

// localKeySet is a random key of this node alone, used until keys are
// synced: challenges still work, and a clearance is valid on this node only.
func localKeySet() *keySet {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // never fails (crypto/rand)
	s, _ := newKeySet([]Key{{ID: "local", Secret: secret}}, true)
	return s
}

// signer is the key that signs now: the newest one already valid, else the
// newest (a key announced ahead of its start still beats none).
func (s *keySet) signer(now time.Time) *Key {
	for i := range s.keys {
		k := &s.keys[i]
		if !k.NotBefore.After(now) && (k.NotAfter.IsZero() || now.Before(k.NotAfter)) {
			return k
		}
	}
	if len(s.keys) == 0 {
		return nil
	}
	return &s.keys[0]
}

// verifier is the key id names when it is still accepted at now.
func (s *keySet) verifier(id string, now time.Time) *Key {
	k := s.byID[id]
	if k == nil || (!k.NotAfter.IsZero() && !now.Before(k.NotAfter)) {
		return nil
	}
	return k
}

// OpenKeys unwraps synced challenge keys with the node's key-encryption key
// (object id = key id, version = the wrapped key's version), the way
// certificate keys are opened.
func OpenKeys(kek *keywrap.Keyring, in []*wafv1.ChallengeKey) ([]Key, error) {
	if len(in) == 0 {
		return nil, nil
	}
	if kek == nil {
		return nil, errors.New("challenge: node has no key-encryption key to open the synced challenge keys")
	}
	out := make([]Key, 0, len(in))
	var errs []error
	for _, ck := range in {
		w := ck.GetKey()
		secret, err := kek.Open(keywrap.Envelope{KEKID: w.GetKekId(), WrappedDataKey: w.GetWrappedDataKey(), Ciphertext: w.GetCiphertext()}, ck.GetId(), w.GetKeyVersion())
		if err != nil {
			errs = append(errs, fmt.Errorf("challenge: key %q: %w", ck.GetId(), err))
			continue
		}
		k := Key{ID: ck.GetId(), Secret: secret}
		if t := ck.GetNotBefore(); t != nil {
			k.NotBefore = t.AsTime()
		}
		if t := ck.GetNotAfter(); t != nil {
			k.NotAfter = t.AsTime()
		}
		out = append(out, k)
	}
	return out, errors.Join(errs...)
}

func tokenSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
