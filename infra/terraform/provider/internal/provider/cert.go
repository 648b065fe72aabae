package provider

import (
	"context"
	"errors"
	"slices"

	"connectrpc.com/connect"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"google.golang.org/protobuf/proto"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
)

// A certificate is uploaded (chain_pem + key_pem) or managed (domains: a
// request issued and renewed through ACME). Only the apps it is attached to
// change in place. Issuance progress and times are left out of the
// comparison, so a renewal or a failed attempt is no edit.

var certSkip = []string{"not_before", "not_after", "failed_attempts", "next_attempt_at", "created_at", "updated_at",
	"state", "last_error"}

var certificateKind = &kind{
	name: "certificate",
	doc: "A TLS certificate: uploaded (chain_pem and key_pem) or managed (domains without key_pem: requested through ACME, " +
		"attached to app_ids[0], renewed by Strata). Changing app_ids attaches and detaches it; any other change replaces it. " +
		"Import by id or name (without key_pem).",
	newMsg: func() proto.Message { return &certv1.Certificate{} },
	opts: fieldOpts{skip: certSkip, required: []string{"name"},
		computed: []string{"domains", "chain_pem", "issuer", "serial", "key_type", "fingerprint_sha256", "managed", "acme_directory", "challenge"},
		replace:  []string{"name", "domains", "chain_pem", "acme_directory", "challenge"},
		docs: map[string]string{
			"name":           "Unique name; a change replaces the certificate.",
			"domains":        "Managed: the DNS names to request. Uploaded: read from the chain's leaf.",
			"chain_pem":      "Uploaded: leaf first, then intermediates, PEM. Managed: the issued chain (read only).",
			"app_ids":        "Apps whose nodes serve it. A managed certificate needs at least one (the request is made for the first).",
			"managed":        "Issued and renewed through ACME (read only).",
			"acme_directory": "Managed: ACME directory URL; unset: the control plane's default (STRATA_ACME_DIRECTORY).",
			"challenge":      "Managed: how the CA checks the domains; unset: http_01, or dns_01 for wildcards.",
		}},
	extra: map[string]schema.Attribute{
		"key_pem": schema.StringAttribute{Optional: true, Sensitive: true,
			Description:   "Uploaded: the PEM private key (sealed by Strata, never returned; a change replaces the certificate).",
			PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}},
		"not_after": timeAttr("When the current leaf expires (RFC 3339)."),
	},
	create: func(ctx context.Context, c *client, o *object) (*remote, error) {
		want := o.msg.(*certv1.Certificate)
		if key := str(o.extra["key_pem"]); key != "" || want.GetChainPem() != "" {
			if key == "" || want.GetChainPem() == "" {
				return nil, errors.New("key_pem and chain_pem: an uploaded certificate needs both")
			}
			res, err := c.cert.UploadCertificate(ctx, &certv1.UploadCertificateRequest{Name: want.GetName(),
				ChainPem: want.GetChainPem(), KeyPem: key, AppIds: want.GetAppIds()})
			if err != nil {
				return nil, err
			}
			return certRemote(res.GetCertificate(), res.GetVersion()), nil
		}
		if len(want.GetAppIds()) == 0 {
			return nil, errors.New("app_ids: a managed certificate (domains without key_pem) needs the app to request it for")
		}
		res, err := c.cert.RequestCertificate(ctx, &certv1.RequestCertificateRequest{AppId: want.GetAppIds()[0],
			Domains: want.GetDomains(), AcmeDirectory: want.GetAcmeDirectory(), Name: want.GetName(), Challenge: want.GetChallenge()})
		if err != nil {
			return nil, err
		}
		rem := certRemote(res.GetCertificate(), res.GetVersion())
		o.id = res.GetCertificate().GetId()
		return attachOthers(ctx, c, o, rem)
	},
	read: func(ctx context.Context, c *client, o *object) (*remote, error) {
		res, err := c.cert.GetCertificate(ctx, &certv1.GetCertificateRequest{Certificate: o.id})
		if connect.CodeOf(err) == connect.CodeNotFound {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return certRemote(res.GetCertificate(), res.GetVersion()), nil
	},
	update: func(ctx context.Context, c *client, o *object, cur *remote) (*remote, error) {
		return attachOthers(ctx, c, o, cur)
	},
	delete: func(ctx context.Context, c *client, o *object) error {
		_, err := c.cert.DeleteCertificate(ctx, &certv1.DeleteCertificateRequest{Certificate: o.id})
		return err
	},
}

// attachOthers attaches and detaches cur until its apps are o's, each call
// at the version the previous one returned.
func attachOthers(ctx context.Context, c *client, o *object, cur *remote) (*remote, error) {
	want, have := o.msg.(*certv1.Certificate).GetAppIds(), cur.msg.(*certv1.Certificate).GetAppIds()
	for _, app := range want {
		if slices.Contains(have, app) {
			continue
		}
		res, err := c.cert.AttachCertificate(ctx, &certv1.AttachCertificateRequest{Certificate: o.id, AppId: app, ExpectedVersion: &cur.version})
		if err != nil {
			return nil, err
		}
		cur = certRemote(res.GetCertificate(), res.GetVersion())
	}
	for _, app := range have {
		if slices.Contains(want, app) {
			continue
		}
		res, err := c.cert.DetachCertificate(ctx, &certv1.DetachCertificateRequest{Certificate: o.id, AppId: app, ExpectedVersion: &cur.version})
		if err != nil {
			return nil, err
		}
		cur = certRemote(res.GetCertificate(), res.GetVersion())
	}
	return cur, nil
}

func certRemote(c *certv1.Certificate, version uint64) *remote {
	return &remote{msg: only(c, certSkip), version: version, extra: map[string]string{"not_after": rfc3339(c.GetNotAfter())}}
}
