package apiauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/strata-edge/strata/pkg/secretfile"
)

const (
	// BootstrapTokenFile is the name of the admin token file in the data dir.
	BootstrapTokenFile = "admin.token"
	// TokenPrefix starts every token Strata generates, so that secret scanners
	// and humans can recognise one.
	TokenPrefix = "strata_"
	tokenBytes  = 32
)

// LoadOrCreateBootstrapToken returns the admin token stored in
// <dataDir>/admin.token, generating it on first start (32 random bytes,
// "strata_" + base64url, file mode 0600). It refuses a token file that group or
// others may read, since anyone who can read it is admin.
func LoadOrCreateBootstrapToken(dataDir string) (token, path string, err error) {
	path = filepath.Join(dataDir, BootstrapTokenFile)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", path, fmt.Errorf("create data dir %q: %w", dataDir, err)
	}
	token, err = readTokenFile(path)
	if err == nil {
		return token, path, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", path, err
	}
	token = NewToken()
	// O_EXCL: when two processes start at once, one writes and the other reads.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		token, err = readTokenFile(path)
		return token, path, err
	}
	if err != nil {
		return "", path, fmt.Errorf("create token file: %w", err)
	}
	_, werr := f.WriteString(token + "\n")
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(path)
		return "", path, fmt.Errorf("write token file %q: %w", path, werr)
	}
	return token, path, nil
}

// readTokenFile reads a token file, checking that only its owner can read it.
func readTokenFile(path string) (string, error) {
	b, err := secretfile.Read(path)
	if secretfile.IsMode(err) {
		return "", fmt.Errorf("admin token: %w (or delete it to generate a new token)", err)
	}
	if err != nil {
		return "", err
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("token file %q is empty (delete it to generate a new token)", path)
	}
	return token, nil
}

// NewToken returns a new random token: "strata_" + 32 random bytes in base64url.
func NewToken() string {
	var b [tokenBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// BootstrapAuthenticator accepts exactly one token, the bootstrap admin token.
// It keeps only the token's SHA-256 and compares in constant time.
type BootstrapAuthenticator struct {
	sum [sha256.Size]byte
}

// NewBootstrapAuthenticator returns an authenticator for token.
func NewBootstrapAuthenticator(token string) *BootstrapAuthenticator {
	return &BootstrapAuthenticator{sum: sha256.Sum256([]byte(token))}
}

// BootstrapPrincipal is the caller that presents the bootstrap token.
var BootstrapPrincipal = Principal{Name: "admin", Kind: "bootstrap", CredentialID: "bootstrap"}

// Authenticate returns BootstrapPrincipal for the bootstrap token and
// ErrInvalidToken for anything else.
func (a *BootstrapAuthenticator) Authenticate(_ context.Context, token string) (Principal, error) {
	// Hashing first makes the comparison length-independent.
	sum := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(sum[:], a.sum[:]) != 1 {
		return Principal{}, ErrInvalidToken
	}
	return BootstrapPrincipal, nil
}

var _ Authenticator = (*BootstrapAuthenticator)(nil)
