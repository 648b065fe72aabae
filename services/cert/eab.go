package cert

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/cert/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/eventstore"
)

// ACME accounts per directory: the account the issuer registered (stream
// "acme.<hash>") and the external account binding (EAB) to register it with
// (stream "acmeeab.<hash>", SetAcmeAccount). The EAB HMAC key is sealed with
// the control KEK before it is recorded and opened only to register.

// account is the read model of one ACME directory.
type account struct {
	directory string
	url       string // registered account URL
	eabKID    string
	eabKey    *certv1.WrappedKey // sealed HMAC key (base64url text)
	eabSets   uint64             // settings recorded so far: the next key version
	version   uint64             // position of the newest event of the EAB stream
	updated   time.Time
}

// eabStream is the event stream of directory's EAB setting.
func eabStream(directory string) string {
	h := sha256.Sum256([]byte(directory))
	return "acmeeab." + hex.EncodeToString(h[:12])
}

// applyAccount folds the account events; false for every other event.
func (m *Model) applyAccount(e eventstore.Event, msg proto.Message) bool {
	var dir string
	switch msg := msg.(type) {
	case *ev.AcmeAccountRegistered:
		dir = msg.Directory
	case *ev.AcmeExternalAccountSet:
		dir = msg.Directory
	default:
		return false
	}
	a := &account{directory: dir}
	if old := m.accounts[dir]; old != nil {
		cp := *old
		a = &cp
	}
	switch msg := msg.(type) {
	case *ev.AcmeAccountRegistered:
		a.url = msg.AccountUrl
	case *ev.AcmeExternalAccountSet:
		a.eabKID, a.eabKey = msg.EabKeyId, msg.EabHmacKey
		a.eabSets++
		a.version = e.Position
	}
	a.updated = e.Metadata.Time
	m.accounts[dir] = a
	return true
}

func (a *account) proto() *certv1.AcmeAccount {
	out := &certv1.AcmeAccount{Directory: a.directory, EabKeyId: a.eabKID, EabHmacKeySet: a.eabKey != nil, AccountUrl: a.url}
	if !a.updated.IsZero() {
		out.UpdatedAt = timestamppb.New(a.updated)
	}
	return out
}

func (m *Model) account(directory string) (*account, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	a, ok := m.accounts[directory]
	return a, ok
}

// SetAcmeAccount records the external account binding for new accounts at
// a directory (empty key id and HMAC key clear it).
func (s *Service) SetAcmeAccount(ctx context.Context, req *certv1.SetAcmeAccountRequest) (*certv1.AcmeAccount, error) {
	dir := strings.TrimSpace(req.Directory)
	var vs apierr.Fields
	vs.Add("directory", checkDirectory(dir))
	kid, hmac := strings.TrimSpace(req.EabKeyId), strings.TrimSpace(req.EabHmacKey)
	switch {
	case kid == "" && hmac != "":
		vs = append(vs, apierr.FieldViolation{Field: "eab_key_id", Reason: "is required with eab_hmac_key"})
	case kid != "" && hmac == "":
		vs = append(vs, apierr.FieldViolation{Field: "eab_hmac_key", Reason: "is required with eab_key_id"})
	case kid != "":
		if len(kid) > 256 || strings.ContainsFunc(kid, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) {
			vs = append(vs, apierr.FieldViolation{Field: "eab_key_id", Reason: "must be at most 256 printable characters without spaces"})
		}
		if b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(hmac, "=")); err != nil || len(b) < 16 {
			vs = append(vs, apierr.FieldViolation{Field: "eab_hmac_key", Reason: "is not a base64url key of at least 16 bytes (as the CA shows it)"})
		}
	}
	if len(vs) > 0 {
		return nil, apierr.Invalid(vs...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return nil, err
	}
	a, _ := s.model.account(dir)
	if a == nil {
		a = &account{directory: dir}
	}
	if a.url != "" && kid != "" {
		return nil, apierr.FailedPrecondition(fmt.Sprintf("directory: the account at %s is registered already (%s); external account binding applies only when an account is registered", dir, a.url))
	}
	set := &ev.AcmeExternalAccountSet{Directory: dir, EabKeyId: kid}
	if hmac != "" {
		env, err := s.kek.Seal(eabStream(dir), a.eabSets+1, []byte(hmac))
		if err != nil {
			return nil, fmt.Errorf("seal EAB HMAC key: %w", err)
		}
		set.EabHmacKey = toProto(env, a.eabSets+1)
	}
	if _, err := s.appendStream(ctx, eabStream(dir), "ACME account of "+dir, a.version, set); err != nil {
		return nil, err
	}
	a, _ = s.model.account(dir)
	return a.proto(), nil
}

// ListAcmeAccounts returns the directories with an account or settings, by
// URL.
func (s *Service) ListAcmeAccounts(ctx context.Context) ([]*certv1.AcmeAccount, error) {
	if err := s.catchUp(ctx); err != nil {
		return nil, err
	}
	s.model.mu.RLock()
	out := make([]*certv1.AcmeAccount, 0, len(s.model.accounts))
	for _, a := range s.model.accounts {
		out = append(out, a.proto())
	}
	s.model.mu.RUnlock()
	slices.SortFunc(out, func(a, b *certv1.AcmeAccount) int { return strings.Compare(a.Directory, b.Directory) })
	return out, nil
}

// eab returns the external account binding to register with at directory:
// the one set through the API, else ACMEOptions' for the default directory.
func (is *issuer) eab(directory string) (kid, hmac string, err error) {
	if a, ok := is.s.model.account(directory); ok && a.eabSets > 0 {
		if a.eabKey == nil {
			return "", "", nil // cleared
		}
		b, err := is.s.kek.Open(FromProto(a.eabKey), eabStream(directory), a.eabKey.KeyVersion)
		if err != nil {
			return "", "", fmt.Errorf("open EAB HMAC key of %s: %w", directory, err)
		}
		return a.eabKID, string(b), nil
	}
	if directory == is.o.Directory {
		return is.o.EABKeyID, is.o.EABHMACKey, nil
	}
	return "", "", nil
}

// checkDirectory returns why dir is not an ACME directory URL, or "".
func checkDirectory(dir string) string {
	if dir == "" {
		return "is required (the ACME directory URL)"
	}
	u, err := url.Parse(dir)
	switch {
	case err != nil || len(dir) > 2048:
		return fmt.Sprintf("%q is not a URL", dir)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Sprintf("%q: want an https:// URL", dir)
	case u.Host == "":
		return fmt.Sprintf("%q has no host", dir)
	}
	return ""
}
