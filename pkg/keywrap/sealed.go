package keywrap

import (
	"crypto/hpke"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
)

// SealedSuite names the HPKE suite of SealTo/OpenSealed: the hybrid
// post-quantum KEM ML-KEM-768 + X25519, HKDF-SHA256 and AES-256-GCM.
const SealedSuite = "MLKEM768X25519-HKDFSHA256-AES256GCM"

var (
	sealedKEM  = hpke.MLKEM768X25519()
	sealedKDF  = hpke.HKDFSHA256()
	sealedAEAD = hpke.AES256GCM()
)

// TransportKey is a one-time HPKE key pair a recipient (a joining node)
// makes so that a secret can be sealed to it on the wire.
type TransportKey struct{ priv hpke.PrivateKey }

// NewTransportKey generates a transport key pair.
func NewTransportKey() (*TransportKey, error) {
	k, err := sealedKEM.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("keywrap: transport key: %w", err)
	}
	return &TransportKey{priv: k}, nil
}

// Public returns the public key to send to the sealer.
func (k *TransportKey) Public() []byte { return k.priv.PublicKey().Bytes() }

// Open decrypts what SealTo sealed to k's public key with the same info.
func (k *TransportKey) Open(info, sealed []byte) ([]byte, error) {
	p, err := hpke.Open(k.priv, sealedKDF, sealedAEAD, info, sealed)
	if err != nil {
		return nil, ErrOpen
	}
	return p, nil
}

// SealTo encrypts plaintext to the transport public key pub (HPKE base mode,
// single shot); info binds the ciphertext to its purpose and recipient.
func SealTo(pub, info, plaintext []byte) ([]byte, error) {
	pk, err := sealedKEM.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("keywrap: transport public key: %w", err)
	}
	return hpke.Seal(pk, sealedKDF, sealedAEAD, info, plaintext)
}

// CheckTransportKey reports whether pub is a public key SealTo accepts.
func CheckTransportKey(pub []byte) error {
	if _, err := sealedKEM.NewPublicKey(pub); err != nil {
		return fmt.Errorf("not a %s public key (%d bytes)", SealedSuite, len(pub))
	}
	return nil
}

// Text returns the keyring in the key file format Parse reads: the primary
// KEK first, then the others by id. It is secret: write it with mode 0600
// or seal it, never log it.
func (r *Keyring) Text() string {
	var b strings.Builder
	line := func(id string) {
		b.WriteString(id + " " + base64.StdEncoding.EncodeToString(r.raw[id]) + "\n")
	}
	line(r.primary)
	ids := make([]string, 0, len(r.raw))
	for id := range r.raw {
		if id != r.primary {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		line(id)
	}
	return b.String()
}
