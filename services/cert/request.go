package cert

import (
	"context"
	"fmt"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/cert/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/ids"
)

// Request records a managed certificate for domains, attached to the app;
// the ACME issuer picks it up.
func (s *Service) Request(ctx context.Context, req *certv1.RequestCertificateRequest) (*certv1.Certificate, uint64, error) {
	domains, err := requestDomains(req)
	if err != nil {
		return nil, 0, err
	}
	challenge, err := s.challengeFor(ctx, req.Challenge, domains) // dns01.go
	if err != nil {
		return nil, 0, err
	}
	appID, err := s.appID(ctx, "app_id", req.AppId) // the app must exist
	if err != nil {
		return nil, 0, err
	}
	if err := s.target(ctx, req.AppId, appID, req.Force).covers("domains", domains); err != nil {
		return nil, 0, err
	}
	id := ids.New("crt_")
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return nil, 0, err
	}
	msgs, err := s.model.request(id, req, domains, challenge, appID)
	if err != nil {
		return nil, 0, err
	}
	v, err := s.appendAndWait(ctx, id, 0, msgs...)
	if err != nil {
		return nil, 0, err
	}
	if s.issuer != nil {
		s.issuer.Kick()
	}
	r, _ := s.model.get(id)
	return r.cert, v, nil
}

// Revoke asks the CA to revoke a managed certificate's current leaf, records
// it, and lets the issuer obtain a new one.
func (s *Service) Revoke(ctx context.Context, ref string, reason uint32) (*certv1.Certificate, uint64, error) {
	if _, _, err := s.Get(ctx, ref); err != nil {
		return nil, 0, err
	}
	r, _ := s.model.get(ref)
	if !r.cert.Managed || r.key == nil {
		return nil, 0, apierr.FailedPrecondition(fmt.Sprintf("certificate %s is not an issued managed certificate", r.cert.Id))
	}
	if s.issuer == nil {
		return nil, 0, apierr.FailedPrecondition("ACME is not configured on this cert service")
	}
	client, err := s.issuer.client(ctx, r.cert.AcmeDirectory)
	if err != nil {
		return nil, 0, err
	}
	if err := client.Certificate.RevokeWithReason(ctx, []byte(r.cert.ChainPem), &[]uint{uint(reason)}[0]); err != nil {
		return nil, 0, fmt.Errorf("revoke at the CA: %w", err)
	}
	v, err := s.appendAndWait(ctx, r.cert.Id, r.version, &ev.CertificateRevoked{CertificateId: r.cert.Id, Serial: r.cert.Serial, Reason: reason})
	if err != nil {
		return nil, 0, err
	}
	s.issuer.Kick()
	r, _ = s.model.get(r.cert.Id)
	return r.cert, v, nil
}
