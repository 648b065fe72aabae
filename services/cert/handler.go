package cert

import (
	"context"
	"slices"
	"strings"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	"github.com/strata-edge/strata/gen/strata/cert/v1/certv1connect"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/listfilter"
)

type handler struct{ s *Service }

func (h *handler) UploadCertificate(ctx context.Context, req *certv1.UploadCertificateRequest) (*certv1.UploadCertificateResponse, error) {
	c, v, err := h.s.Upload(ctx, req)
	return apierr.Reply(h.s.logger, &certv1.UploadCertificateResponse{Certificate: c, Version: v}, err)
}

func (h *handler) ListCertificates(ctx context.Context, req *certv1.ListCertificatesRequest) (*certv1.ListCertificatesResponse, error) {
	cs, err := h.s.List(ctx, req.AppId)
	if err != nil {
		return nil, apierr.ToConnectLog(h.s.logger, err)
	}
	slices.SortFunc(cs, func(a, b *certv1.Certificate) int { return strings.Compare(certificateKey(a), certificateKey(b)) })
	out := &certv1.ListCertificatesResponse{}
	out.Certificates, out.NextPageToken, err = listfilter.Paged(certificateSchema,
		listfilter.Request{PageSize: req.PageSize, PageToken: req.PageToken, Filter: req.Filter, Scope: req.AppId}, cs, certificateKey)
	return apierr.Reply(h.s.logger, out, err)
}

func (h *handler) GetCertificate(ctx context.Context, req *certv1.GetCertificateRequest) (*certv1.GetCertificateResponse, error) {
	c, v, err := h.s.Get(ctx, req.Certificate)
	return apierr.Reply(h.s.logger, &certv1.GetCertificateResponse{Certificate: c, Version: v}, err)
}

func (h *handler) DeleteCertificate(ctx context.Context, req *certv1.DeleteCertificateRequest) (*certv1.DeleteCertificateResponse, error) {
	v, err := h.s.Delete(ctx, req.Certificate, req.ExpectedVersion)
	return apierr.Reply(h.s.logger, &certv1.DeleteCertificateResponse{Version: v}, err)
}

func (h *handler) AttachCertificate(ctx context.Context, req *certv1.AttachCertificateRequest) (*certv1.AttachCertificateResponse, error) {
	c, v, err := h.s.Attach(ctx, req.Certificate, req.AppId, true, req.Force, req.ExpectedVersion)
	return apierr.Reply(h.s.logger, &certv1.AttachCertificateResponse{Certificate: c, Version: v}, err)
}

func (h *handler) DetachCertificate(ctx context.Context, req *certv1.DetachCertificateRequest) (*certv1.DetachCertificateResponse, error) {
	c, v, err := h.s.Attach(ctx, req.Certificate, req.AppId, false, false, req.ExpectedVersion)
	return apierr.Reply(h.s.logger, &certv1.DetachCertificateResponse{Certificate: c, Version: v}, err)
}

func (h *handler) RequestCertificate(ctx context.Context, req *certv1.RequestCertificateRequest) (*certv1.RequestCertificateResponse, error) {
	c, v, err := h.s.Request(ctx, req)
	return apierr.Reply(h.s.logger, &certv1.RequestCertificateResponse{Certificate: c, Version: v}, err)
}

func (h *handler) RevokeCertificate(ctx context.Context, req *certv1.RevokeCertificateRequest) (*certv1.RevokeCertificateResponse, error) {
	c, v, err := h.s.Revoke(ctx, req.Certificate, req.Reason)
	return apierr.Reply(h.s.logger, &certv1.RevokeCertificateResponse{Certificate: c, Version: v}, err)
}

func (h *handler) SetAcmeAccount(ctx context.Context, req *certv1.SetAcmeAccountRequest) (*certv1.SetAcmeAccountResponse, error) {
	a, err := h.s.SetAcmeAccount(ctx, req)
	return apierr.Reply(h.s.logger, &certv1.SetAcmeAccountResponse{Account: a}, err)
}

func (h *handler) ListAcmeAccounts(ctx context.Context, req *certv1.ListAcmeAccountsRequest) (*certv1.ListAcmeAccountsResponse, error) {
	as, err := h.s.ListAcmeAccounts(ctx)
	if err != nil {
		return nil, apierr.ToConnectLog(h.s.logger, err)
	}
	out := &certv1.ListAcmeAccountsResponse{}
	out.Accounts, out.NextPageToken, err = listfilter.Paged(acmeAccountSchema,
		listfilter.Request{PageSize: req.PageSize, PageToken: req.PageToken, Filter: req.Filter}, as, acmeAccountKey)
	return apierr.Reply(h.s.logger, out, err)
}

var _ certv1connect.CertServiceHandler = (*handler)(nil)
