package cert

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	"github.com/strata-edge/strata/pkg/apierr"
)

// TestACMEExternalAccountBindingPerDirectory: the default directory needs
// no EAB; a second CA requires it. The binding set through the API for that
// directory only is used to register there, the certificate is issued, and
// the HMAC key never appears in clear in the event log.
func TestACMEExternalAccountBindingPerDirectory(t *testing.T) {
	e := newEnv(t)
	r := startResponder(t, e.js)
	const kid, hmac = "kid-dir", "c2VjcmV0LWhtYWMta2V5LWZvci10aGlzLWRpcmVjdG9yeS0xMjM0NTY3ODkw"
	plain := startPebble(t, r.port)
	strict := startPebbleEAB(t, r.port, kid, hmac)
	e.svc.Stop(e.ctx)
	svc, err := New(Options{Store: e.store, JetStream: e.js, KEK: e.kek, ACME: &ACMEOptions{
		Directory: plain.Directory, HTTPClient: plain.Client, Interval: 50 * time.Millisecond, RetryBase: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop(context.Background()) })
	e.svc = svc

	for _, tc := range []struct {
		name  string
		req   *certv1.SetAcmeAccountRequest
		field string
	}{
		{"no directory", &certv1.SetAcmeAccountRequest{EabKeyId: kid, EabHmacKey: hmac}, "directory"},
		{"not a URL", &certv1.SetAcmeAccountRequest{Directory: "ftp://ca/dir", EabKeyId: kid, EabHmacKey: hmac}, "directory"},
		{"key id without HMAC", &certv1.SetAcmeAccountRequest{Directory: strict.Directory, EabKeyId: kid}, "eab_hmac_key"},
		{"HMAC not base64url", &certv1.SetAcmeAccountRequest{Directory: strict.Directory, EabKeyId: kid, EabHmacKey: "not base64!"}, "eab_hmac_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.SetAcmeAccount(e.ctx, tc.req)
			ce := apierr.ToConnect(err)
			if ce == nil || ce.Code() != connect.CodeInvalidArgument || !strings.Contains(ce.Message(), tc.field) {
				t.Fatalf("err = %v, want InvalidArgument naming %s", err, tc.field)
			}
		})
	}

	acc, err := svc.SetAcmeAccount(e.ctx, &certv1.SetAcmeAccountRequest{Directory: strict.Directory, EabKeyId: kid, EabHmacKey: hmac})
	if err != nil {
		t.Fatal(err)
	}
	if acc.EabKeyId != kid || !acc.EabHmacKeySet || acc.AccountUrl != "" {
		t.Fatalf("account after set: %v", acc)
	}
	c, _, err := svc.Request(e.ctx, &certv1.RequestCertificateRequest{AppId: "app", Domains: []string{"strict.example.com"}, AcmeDirectory: strict.Directory})
	if err != nil {
		t.Fatal(err)
	}
	waitCert(t, e, c.Id, func(c *certv1.Certificate) error {
		if c.State != certv1.CertificateState_CERTIFICATE_STATE_ACTIVE {
			return fmt.Errorf("state %v, last error %q", c.State, c.LastError)
		}
		return nil
	})
	// The default directory still registers without EAB.
	d, _, err := svc.Request(e.ctx, &certv1.RequestCertificateRequest{AppId: "app", Domains: []string{"plain.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	waitCert(t, e, d.Id, func(c *certv1.Certificate) error {
		if c.State != certv1.CertificateState_CERTIFICATE_STATE_ACTIVE {
			return fmt.Errorf("state %v, last error %q", c.State, c.LastError)
		}
		return nil
	})

	accounts, err := svc.ListAcmeAccounts(e.ctx)
	if err != nil || len(accounts) != 2 {
		t.Fatalf("accounts: %v %v", accounts, err)
	}
	for _, a := range accounts {
		if a.AccountUrl == "" || (a.Directory == strict.Directory) != (a.EabKeyId == kid && a.EabHmacKeySet) {
			t.Fatalf("account %v", a)
		}
	}
	// Registered: a new binding would never be used, so it is refused.
	if _, err := svc.SetAcmeAccount(e.ctx, &certv1.SetAcmeAccountRequest{Directory: strict.Directory, EabKeyId: "kid-2", EabHmacKey: hmac}); apierr.ToConnect(err).Code() != connect.CodeFailedPrecondition {
		t.Fatalf("set after registration: %v, want FailedPrecondition", err)
	}

	raw, _ := base64.RawURLEncoding.DecodeString(hmac)
	events, err := e.store.ReadAll(e.ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		if bytes.Contains(ev.Data, []byte(hmac)) || bytes.Contains(ev.Data, raw) {
			t.Fatalf("event %s (%s) holds the EAB HMAC key in clear", ev.ID, ev.Type)
		}
	}
}
