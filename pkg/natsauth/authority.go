// Package natsauth issues Strata's NATS credentials the decentralized way
// (operator -> account -> user JWTs): the control plane holds the keys, the
// hub trusts the operator, and every node gets a user JWT that allows only its
// own partition's subjects. Adding a node needs no server reload; removing
// one revokes its key in the account JWT, which is pushed to the running hub.
package natsauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/strata-edge/strata/pkg/secretfile"
)

// AccountName is the name (not the identity) of the one account that holds all
// of Strata's traffic: control services, the event store and every node.
const AccountName = "STRATA"

// File names inside the Authority's directory. They are data: renaming one
// makes a restarted control plane mint new identities, which orphans every
// issued credential.
const (
	operatorSeedFile  = "operator.nk"
	systemSeedFile    = "system-account.nk"
	accountSeedFile   = "account.nk"
	signingSeedFile   = "account-signing.nk"
	revocationsFile   = "revocations.json"
	operatorName      = "strata"
	systemAccountName = "SYS"
)

// ErrRevoked is returned by NodeUser for a public key that was revoked: a
// removed node must generate a new key to join again.
var ErrRevoked = errors.New("natsauth: public key is revoked")

// Authority holds the operator key, the system account and the STRATA account
// with its signing key. It is safe for concurrent use.
type Authority struct {
	dir      string
	operator nkeys.KeyPair
	system   nkeys.KeyPair
	account  nkeys.KeyPair
	signing  nkeys.KeyPair

	operatorPub, systemPub, accountPub, signingPub string

	operatorJWT string
	systemJWT   string

	mu          sync.Mutex
	revocations map[string]int64 // user public key -> unix seconds
	accountJWT  string
}

// LoadOrCreate loads the keys stored in dir, creating the ones that are
// missing, so that a restarted control plane keeps its identities (and every
// credential it issued stays valid). Seeds are written with mode 0600 in a
// 0700 directory; a seed file readable by group or others is refused.
func LoadOrCreate(dir string) (*Authority, error) {
	if dir == "" {
		return nil, errors.New("natsauth: directory: required")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("natsauth: create %s: %w", dir, err)
	}
	a := &Authority{dir: dir}
	var err error
	if a.operator, err = loadOrCreateKey(filepath.Join(dir, operatorSeedFile), nkeys.PrefixByteOperator); err != nil {
		return nil, err
	}
	if a.system, err = loadOrCreateKey(filepath.Join(dir, systemSeedFile), nkeys.PrefixByteAccount); err != nil {
		return nil, err
	}
	if a.account, err = loadOrCreateKey(filepath.Join(dir, accountSeedFile), nkeys.PrefixByteAccount); err != nil {
		return nil, err
	}
	if a.signing, err = loadOrCreateKey(filepath.Join(dir, signingSeedFile), nkeys.PrefixByteAccount); err != nil {
		return nil, err
	}
	a.operatorPub, _ = a.operator.PublicKey()
	a.systemPub, _ = a.system.PublicKey()
	a.accountPub, _ = a.account.PublicKey()
	a.signingPub, _ = a.signing.PublicKey()
	if a.revocations, err = loadRevocations(filepath.Join(dir, revocationsFile)); err != nil {
		return nil, err
	}

	oc := jwt.NewOperatorClaims(a.operatorPub)
	oc.Name = operatorName
	oc.SystemAccount = a.systemPub
	if a.operatorJWT, err = oc.Encode(a.operator); err != nil {
		return nil, fmt.Errorf("natsauth: sign operator: %w", err)
	}
	sc := jwt.NewAccountClaims(a.systemPub)
	sc.Name = systemAccountName
	if a.systemJWT, err = sc.Encode(a.operator); err != nil {
		return nil, fmt.Errorf("natsauth: sign system account: %w", err)
	}
	if a.accountJWT, err = a.signAccount(); err != nil {
		return nil, err
	}
	return a, nil
}

// signAccount encodes the STRATA account with the current revocations.
// Caller holds mu (or owns a exclusively).
func (a *Authority) signAccount() (string, error) {
	ac := jwt.NewAccountClaims(a.accountPub)
	ac.Name = AccountName
	ac.SigningKeys.Add(a.signingPub)
	// Operator mode enables JetStream per account, through its limits.
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{
		MemoryStorage: jwt.NoLimit,
		DiskStorage:   jwt.NoLimit,
		Streams:       jwt.NoLimit,
		Consumer:      jwt.NoLimit,
		MaxAckPending: jwt.NoLimit,
	}
	for pub, at := range a.revocations {
		ac.RevokeAt(pub, time.Unix(at, 0))
	}
	s, err := ac.Encode(a.operator)
	if err != nil {
		return "", fmt.Errorf("natsauth: sign account: %w", err)
	}
	return s, nil
}

// OperatorPublicKey is the identity the hub trusts.
func (a *Authority) OperatorPublicKey() string { return a.operatorPub }

// AccountPublicKey is the identity of the STRATA account.
func (a *Authority) AccountPublicKey() string { return a.accountPub }

// SystemAccountPublicKey is the identity of the system account.
func (a *Authority) SystemAccountPublicKey() string { return a.systemPub }

// AccountJWT is the STRATA account's current JWT, with every revocation.
func (a *Authority) AccountJWT() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.accountJWT
}

// Configure puts an embedded hub into operator mode: it trusts the operator,
// uses the system account, and resolves accounts from memory. The in-memory
// resolver accepts updated account JWTs while the server runs, which is how
// Revoke takes effect without a restart; it is seeded from the Authority,
// whose directory is the durable copy.
func (a *Authority) Configure(o *server.Options) error {
	if o == nil {
		return errors.New("natsauth: Configure: nil options")
	}
	oc, err := jwt.DecodeOperatorClaims(a.operatorJWT)
	if err != nil {
		return fmt.Errorf("natsauth: decode operator: %w", err)
	}
	res := &server.MemAccResolver{}
	if err := res.Store(a.systemPub, a.systemJWT); err != nil {
		return fmt.Errorf("natsauth: store system account: %w", err)
	}
	if err := res.Store(a.accountPub, a.AccountJWT()); err != nil {
		return fmt.Errorf("natsauth: store account: %w", err)
	}
	o.TrustedOperators = []*jwt.OperatorClaims{oc}
	o.TrustedKeys = nil
	o.SystemAccount = a.systemPub
	o.AccountResolver = res
	return nil
}

// ControlUser issues credentials with full permissions in the STRATA account
// for a control service (event store, config, sync publisher). Each call makes
// a fresh user key; use the result with nats.UserJWTAndSeed.
func (a *Authority) ControlUser() (string, []byte, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", nil, fmt.Errorf("natsauth: create control user key: %w", err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	uc := jwt.NewUserClaims(pub)
	uc.Name = "control"
	uc.IssuerAccount = a.accountPub
	token, err := uc.Encode(a.signing)
	if err != nil {
		return "", nil, fmt.Errorf("natsauth: sign control user: %w", err)
	}
	return token, seed, nil
}

// NodeUser issues the user JWT of one node, for the node's own public key (its
// seed never leaves the node). The JWT allows exactly NodePermissions.
func (a *Authority) NodeUser(nodeID, partitionID, publicKey string) (string, error) {
	if !nkeys.IsValidPublicUserKey(publicKey) {
		return "", fmt.Errorf("natsauth: public key %q: not an nkey user public key (U...)", publicKey)
	}
	perms, err := NodePermissions(nodeID, partitionID)
	if err != nil {
		return "", err
	}
	a.mu.Lock()
	_, revoked := a.revocations[publicKey]
	a.mu.Unlock()
	if revoked {
		return "", fmt.Errorf("%w: %s", ErrRevoked, publicKey)
	}
	uc := jwt.NewUserClaims(publicKey)
	uc.Name = "node:" + nodeID
	uc.IssuerAccount = a.accountPub
	uc.Tags.Add("node:"+nodeID, "partition:"+partitionID)
	uc.Permissions = perms
	token, err := uc.Encode(a.signing)
	if err != nil {
		return "", fmt.Errorf("natsauth: sign node user: %w", err)
	}
	return token, nil
}

// IsRevoked reports whether publicKey was revoked.
func (a *Authority) IsRevoked(publicKey string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.revocations[publicKey]
	return ok
}

// Revoke revokes every JWT issued for publicKey so far, records it durably,
// and, when s is not nil, pushes the new account JWT to the running server,
// which closes the connections (leaf links included) of that user. Revoking a
// key twice keeps the first revocation and changes nothing.
func (a *Authority) Revoke(s *server.Server, publicKey string) error {
	if !nkeys.IsValidPublicUserKey(publicKey) {
		return fmt.Errorf("natsauth: revoke: public key %q: not an nkey user public key (U...)", publicKey)
	}
	a.mu.Lock()
	if _, ok := a.revocations[publicKey]; ok {
		a.mu.Unlock()
		return nil
	}
	next := make(map[string]int64, len(a.revocations)+1)
	for k, v := range a.revocations {
		next[k] = v
	}
	// JWT issue times have a resolution of one second and a revocation covers
	// JWTs issued at or before its time: round up so that a JWT issued in the
	// current second is covered too.
	next[publicKey] = time.Now().Unix() + 1
	if err := saveRevocations(filepath.Join(a.dir, revocationsFile), next); err != nil {
		a.mu.Unlock()
		return err
	}
	prev := a.revocations
	a.revocations = next
	token, err := a.signAccount()
	if err != nil {
		a.revocations = prev
		a.mu.Unlock()
		return err
	}
	a.accountJWT = token
	a.mu.Unlock()
	if s == nil {
		return nil
	}
	return a.Push(s)
}

// Push hands the current account JWT to a running server whose resolver
// accepts updates (the one Configure installs), applying revocations at once.
func (a *Authority) Push(s *server.Server) error {
	token := a.AccountJWT()
	res := s.AccountResolver()
	if res == nil || res.IsReadOnly() {
		return errors.New("natsauth: push account: server has no writable account resolver (configure it with Authority.Configure)")
	}
	if err := res.Store(a.accountPub, token); err != nil {
		return fmt.Errorf("natsauth: push account: %w", err)
	}
	claims, err := jwt.DecodeAccountClaims(token)
	if err != nil {
		return fmt.Errorf("natsauth: push account: %w", err)
	}
	acc, err := s.LookupAccount(a.accountPub)
	if err != nil {
		return fmt.Errorf("natsauth: push account: look up %s: %w", a.accountPub, err)
	}
	s.UpdateAccountClaims(acc, claims)
	return nil
}

// loadOrCreateKey reads the seed at path, or creates one of the given type.
func loadOrCreateKey(path string, prefix nkeys.PrefixByte) (nkeys.KeyPair, error) {
	seed, err := readPrivateFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		kp, err := createKey(prefix)
		if err != nil {
			return nil, fmt.Errorf("natsauth: create key for %s: %w", path, err)
		}
		seed, _ := kp.Seed()
		if err := writePrivateFile(path, append(seed, '\n')); err != nil {
			return nil, err
		}
		return kp, nil
	}
	if err != nil {
		return nil, err
	}
	kp, err := nkeys.FromSeed(trimSpace(seed))
	if err != nil {
		return nil, fmt.Errorf("natsauth: %s: not an nkey seed: %w", path, err)
	}
	pub, _ := kp.PublicKey()
	if got := nkeys.Prefix(pub); got != prefix {
		return nil, fmt.Errorf("natsauth: %s: holds a %s key, want %s", path, got, prefix)
	}
	return kp, nil
}

func createKey(prefix nkeys.PrefixByte) (nkeys.KeyPair, error) {
	switch prefix {
	case nkeys.PrefixByteOperator:
		return nkeys.CreateOperator()
	case nkeys.PrefixByteAccount:
		return nkeys.CreateAccount()
	default:
		return nil, fmt.Errorf("unsupported key type %s", prefix)
	}
}

// readPrivateFile reads a secret, refusing files that group or others may
// read or write: a leaked account signing key lets anyone mint credentials.
func readPrivateFile(path string) ([]byte, error) {
	b, err := secretfile.Read(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("natsauth: %w", err)
	}
	return b, err
}

// writePrivateFile writes data with mode 0600 via a temporary file and a
// rename, so a crash never leaves a half-written secret.
func writePrivateFile(path string, data []byte) error {
	if err := secretfile.Write(path, data); err != nil {
		return fmt.Errorf("natsauth: %w", err)
	}
	return nil
}

func loadRevocations(path string) (map[string]int64, error) {
	b, err := readPrivateFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]int64{}, nil
	}
	if err != nil {
		return nil, err
	}
	m := map[string]int64{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("natsauth: %s: %w", path, err)
	}
	for pub := range m {
		if !nkeys.IsValidPublicUserKey(pub) {
			return nil, fmt.Errorf("natsauth: %s: %q is not a user public key", path, pub)
		}
	}
	return m, nil
}

func saveRevocations(path string, m map[string]int64) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("natsauth: encode revocations: %w", err)
	}
	return writePrivateFile(path, append(b, '\n'))
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// WriteCredentials writes a NATS credentials file (user JWT and seed, the
// format of nats.UserCredentials and a leaf remote's "credentials") with mode
// 0600, for a node whose leaf remote reads its credentials from a file.
func WriteCredentials(path, userJWT string, seed []byte) error {
	b, err := jwt.FormatUserConfig(userJWT, seed)
	if err != nil {
		return fmt.Errorf("natsauth: format credentials: %w", err)
	}
	return writePrivateFile(path, b)
}
