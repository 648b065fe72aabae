// Package keywrap is envelope encryption for secrets at rest and in transit
// (certificate private keys): every object gets a fresh random data key that
// encrypts its payload with AES-256-GCM, with the object id and version as
// associated data, so a ciphertext moved to another object or version fails to
// open. The data key is wrapped (AES-256-GCM again) by a key-encryption key
// (KEK) named by an id. Rotating the KEK re-wraps data keys only: payloads are
// never re-encrypted, and the old KEK stays readable until every envelope was
// re-wrapped.
package keywrap

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/strata-edge/strata/pkg/secretfile"
)

// KeySize is the size of KEKs and data keys: AES-256.
const KeySize = 32

// Envelope is a sealed payload.
type Envelope struct {
	KEKID          string // the KEK that wrapped DataKey
	WrappedDataKey []byte // nonce || AES-GCM(KEK, data key)
	Ciphertext     []byte // nonce || AES-GCM(data key, payload)
}

// ErrUnknownKEK means the envelope names a KEK the keyring does not hold.
var ErrUnknownKEK = errors.New("keywrap: unknown key-encryption key")

// ErrOpen means authentication failed: wrong key, wrong object id or version,
// or tampered data.
var ErrOpen = errors.New("keywrap: cannot open envelope (wrong key, object or version, or tampered)")

// Keyring holds KEKs by id; the primary one wraps new data keys. A Keyring is
// immutable once built and safe for concurrent use.
type Keyring struct {
	primary string
	keys    map[string]cipher.AEAD
	raw     map[string][]byte
}

// NewKeyring builds a keyring from KEKs; primary must be one of them.
func NewKeyring(primary string, keks map[string][]byte) (*Keyring, error) {
	r := &Keyring{primary: primary, keys: make(map[string]cipher.AEAD, len(keks)), raw: make(map[string][]byte, len(keks))}
	for id, k := range keks {
		if err := checkID(id); err != nil {
			return nil, err
		}
		if len(k) != KeySize {
			return nil, fmt.Errorf("keywrap: key %q: is %d bytes, want %d", id, len(k), KeySize)
		}
		a, err := newAEAD(k)
		if err != nil {
			return nil, err
		}
		r.keys[id] = a
		r.raw[id] = append([]byte(nil), k...)
	}
	if _, ok := r.keys[primary]; !ok {
		return nil, fmt.Errorf("keywrap: primary key %q: not in the keyring", primary)
	}
	return r, nil
}

func checkID(id string) error {
	if id == "" || strings.ContainsAny(id, " \t\r\n;") {
		return fmt.Errorf("keywrap: key id %q: must be non-empty without spaces or ';'", id)
	}
	return nil
}

// Primary returns the id of the KEK that wraps new data keys.
func (r *Keyring) Primary() string { return r.primary }

// Has reports whether the keyring holds KEK id.
func (r *Keyring) Has(id string) bool { _, ok := r.keys[id]; return ok }

// Seal encrypts payload for object id at version under a fresh data key
// wrapped by the primary KEK.
func (r *Keyring) Seal(objectID string, version uint64, payload []byte) (Envelope, error) {
	dk := make([]byte, KeySize)
	if _, err := rand.Read(dk); err != nil {
		return Envelope{}, fmt.Errorf("keywrap: data key: %w", err)
	}
	defer clear(dk)
	a, err := newAEAD(dk)
	if err != nil {
		return Envelope{}, err
	}
	ct := seal(a, payload, aad("payload", objectID, version, ""))
	wrapped, err := r.wrap(r.primary, dk, objectID, version)
	if err != nil {
		return Envelope{}, err
	}
	return Envelope{KEKID: r.primary, WrappedDataKey: wrapped, Ciphertext: ct}, nil
}

// Open decrypts an envelope sealed for object id at version.
func (r *Keyring) Open(e Envelope, objectID string, version uint64) ([]byte, error) {
	dk, err := r.unwrap(e, objectID, version)
	if err != nil {
		return nil, err
	}
	defer clear(dk)
	a, err := newAEAD(dk)
	if err != nil {
		return nil, err
	}
	return open(a, e.Ciphertext, aad("payload", objectID, version, ""))
}

// Rewrap returns e with its data key wrapped by to's primary KEK (to may be r
// itself after a rotation, or another keyring such as a partition's node
// KEK). The payload ciphertext is shared, not re-encrypted.
func (r *Keyring) Rewrap(e Envelope, objectID string, version uint64, to *Keyring) (Envelope, error) {
	dk, err := r.unwrap(e, objectID, version)
	if err != nil {
		return Envelope{}, err
	}
	defer clear(dk)
	wrapped, err := to.wrap(to.primary, dk, objectID, version)
	if err != nil {
		return Envelope{}, err
	}
	return Envelope{KEKID: to.primary, WrappedDataKey: wrapped, Ciphertext: e.Ciphertext}, nil
}

// Derive returns a keyring holding one KEK derived (HKDF-SHA256) from the
// primary KEK and label, with id "<primary>/<label>". The control plane
// derives one per partition for its nodes: a node holding it can open the
// keys of its partition and no other, and the control KEK never leaves the
// control plane.
func (r *Keyring) Derive(label string) (*Keyring, error) {
	k, err := hkdf.Key(sha256.New, r.raw[r.primary], nil, "strata keywrap derive "+label, KeySize)
	if err != nil {
		return nil, fmt.Errorf("keywrap: derive %q: %w", label, err)
	}
	id := r.primary + "/" + label
	return NewKeyring(id, map[string][]byte{id: k})
}

func (r *Keyring) wrap(kekID string, dk []byte, objectID string, version uint64) ([]byte, error) {
	a, ok := r.keys[kekID]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKEK, kekID)
	}
	return seal(a, dk, aad("datakey", objectID, version, kekID)), nil
}

func (r *Keyring) unwrap(e Envelope, objectID string, version uint64) ([]byte, error) {
	a, ok := r.keys[e.KEKID]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKEK, e.KEKID)
	}
	dk, err := open(a, e.WrappedDataKey, aad("datakey", objectID, version, e.KEKID))
	if err != nil {
		return nil, err
	}
	if len(dk) != KeySize {
		clear(dk)
		return nil, ErrOpen
	}
	return dk, nil
}

// aad binds a ciphertext to its purpose, object, version and (for data keys)
// KEK id; length prefixes keep the encoding unambiguous.
func aad(purpose, objectID string, version uint64, kekID string) []byte {
	b := make([]byte, 0, 32+len(objectID)+len(kekID))
	for _, s := range []string{"strata/keywrap/v1", purpose, objectID, kekID} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return binary.BigEndian.AppendUint64(b, version)
}

func newAEAD(k []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("keywrap: %w", err)
	}
	return cipher.NewGCM(b)
}

func seal(a cipher.AEAD, plain, ad []byte) []byte {
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(plain)+a.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("keywrap: crypto/rand failed: " + err.Error()) // never returns an error on supported platforms
	}
	return a.Seal(nonce, nonce, plain, ad)
}

func open(a cipher.AEAD, ct, ad []byte) ([]byte, error) {
	if len(ct) < a.NonceSize()+a.Overhead() {
		return nil, ErrOpen
	}
	p, err := a.Open(nil, ct[:a.NonceSize()], ct[a.NonceSize():], ad)
	if err != nil {
		return nil, ErrOpen
	}
	return p, nil
}

// Parse reads a keyring from text: one KEK per line (or separated by ';'),
// "<id> <base64 of 32 bytes>"; the first is primary, the others stay
// readable (older KEKs during a rotation). Blank lines and lines starting
// with '#' are skipped.
func Parse(text string) (*Keyring, error) {
	keks := map[string][]byte{}
	primary := ""
	for n, line := range strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == ';' }) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("keywrap: entry %d: want \"<id> <base64 key>\"", n+1)
		}
		k, err := base64.StdEncoding.DecodeString(f[1])
		if err != nil {
			return nil, fmt.Errorf("keywrap: key %q: not base64: %w", f[0], err)
		}
		if _, dup := keks[f[0]]; dup {
			return nil, fmt.Errorf("keywrap: key %q: appears twice", f[0])
		}
		keks[f[0]] = k
		if primary == "" {
			primary = f[0]
		}
	}
	if primary == "" {
		return nil, errors.New("keywrap: no key-encryption key")
	}
	return NewKeyring(primary, keks)
}

// EnvVar is the environment variable Load reads when no file is named.
const EnvVar = "STRATA_KEK"

// Load reads the keyring from file path, or when path is empty from the
// environment variable STRATA_KEK.
func Load(path string) (*Keyring, error) {
	if path == "" {
		v := os.Getenv(EnvVar)
		if v == "" {
			return nil, fmt.Errorf("keywrap: no key-encryption key: set %s or name a key file", EnvVar)
		}
		return Parse(v)
	}
	b, err := secretfile.Read(path)
	if err != nil {
		return nil, fmt.Errorf("keywrap: key file: %w", err)
	}
	defer clear(b)
	r, err := Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// LoadOrCreate loads the key file at path, creating it with one fresh KEK
// (mode 0600) when it does not exist: what `strata dev` does on first start.
func LoadOrCreate(path string) (*Keyring, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		line, err := NewKeyLine()
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("keywrap: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("keywrap: create key file: %w", err)
		}
		_, werr := f.WriteString(line + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, fmt.Errorf("keywrap: write key file: %w", werr)
		}
	}
	return Load(path)
}

// NewKeyLine returns a fresh KEK as a key file line "<id> <base64>", the id
// being random too.
func NewKeyLine() (string, error) {
	k := make([]byte, KeySize+6)
	if _, err := rand.Read(k); err != nil {
		return "", fmt.Errorf("keywrap: %w", err)
	}
	id := "kek-" + base64.RawURLEncoding.EncodeToString(k[KeySize:])
	return id + " " + base64.StdEncoding.EncodeToString(k[:KeySize]), nil
}
