package cert

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/cert/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/domainname"
)

// The decisions of the certificate commands, on the read model: each takes
// the state and the command, with the apps already looked up by the service
// (an appTarget), and returns the events to record (none: nothing changes)
// or the refusal.

// appTarget is an app a certificate is attached to, as the service resolved it.
type appTarget struct {
	id  string // the app's id
	ref string // the app as the caller named it (id or name)
	// domains returns the app's domains; nil checks nothing (forced, or no
	// domain source). Called only when a certificate is really attached.
	domains func() ([]string, error)
}

// covers refuses (InvalidArgument on field) a certificate whose names cover
// none of the app's domains: its nodes would never serve it.
func (a appTarget) covers(field string, names []string) error {
	if a.domains == nil {
		return nil
	}
	domains, err := a.domains()
	if err != nil {
		return fmt.Errorf("domains of app %q: %w", a.ref, err)
	}
	for _, d := range domains {
		if Covers(names, d) {
			return nil
		}
	}
	return apierr.Invalid(apierr.FieldViolation{Field: field, Reason: fmt.Sprintf(
		"the certificate names %s, none of the domains of app %q (%s); nodes would never serve it (force to attach anyway)",
		strings.Join(names, ", "), a.ref, strings.Join(domains, ", "))})
}

// lookup returns the certificate with id or name ref.
func (m *Model) lookup(ref string) (*record, error) {
	if ref == "" {
		return nil, apierr.Invalid(apierr.FieldViolation{Field: "certificate", Reason: "is required"})
	}
	r, ok := m.get(ref)
	if !ok {
		return nil, apierr.NotFound("certificate", ref)
	}
	return r, nil
}

// create decides the events of a new certificate id: first (uploaded or
// requested), then one attachment per app; no other certificate has name.
func (m *Model) create(id, name string, first proto.Message, appIDs []string) ([]proto.Message, error) {
	if _, dup := m.get(name); dup {
		return nil, apierr.Invalid(apierr.FieldViolation{Field: "name", Reason: fmt.Sprintf("certificate %q already exists", name)})
	}
	msgs := []proto.Message{first}
	for _, a := range appIDs {
		msgs = append(msgs, &ev.CertificateAttached{CertificateId: id, AppId: a})
	}
	return msgs, nil
}

// upload decides UploadCertificate of id with material mat; an unnamed
// certificate is called after its first domain and fingerprint.
func (m *Model) upload(id, name string, mat *ev.Material, appIDs []string) ([]proto.Message, error) {
	if name == "" {
		name = mat.Domains[0] + "-" + mat.FingerprintSha256[:8]
	}
	return m.create(id, name, &ev.CertificateUploaded{CertificateId: id, Name: name, Material: mat}, appIDs)
}

// request decides RequestCertificate of id for domains (requestDomains),
// attached to appID; an unnamed certificate is called after its first domain.
func (m *Model) request(id string, req *certv1.RequestCertificateRequest, domains []string, challenge certv1.ChallengeType, appID string) ([]proto.Message, error) {
	name := req.Name
	if name == "" {
		name = domains[0] + "-acme"
	}
	return m.create(id, name, &ev.CertificateRequested{CertificateId: id, Name: name, Domains: domains, AcmeDirectory: req.AcmeDirectory, Challenge: challenge}, []string{appID})
}

// requestDomains validates RequestCertificate's app and domains and returns
// the domains normalized.
func requestDomains(req *certv1.RequestCertificateRequest) ([]string, error) {
	var vs []apierr.FieldViolation
	if req.AppId == "" {
		vs = append(vs, apierr.FieldViolation{Field: "app_id", Reason: "is required"})
	}
	if len(req.Domains) == 0 {
		vs = append(vs, apierr.FieldViolation{Field: "domains", Reason: "at least one domain is required"})
	}
	domains := make([]string, 0, len(req.Domains))
	for i, d := range req.Domains {
		n, err := domainname.Normalize(d)
		if err != nil {
			vs = append(vs, apierr.FieldViolation{Field: fmt.Sprintf("domains[%d]", i), Reason: err.Error()})
			continue
		}
		domains = append(domains, n)
	}
	if len(vs) > 0 {
		return nil, apierr.Invalid(vs...)
	}
	return domains, nil
}

// delete decides DeleteCertificate of ref.
func (m *Model) delete(ref string) (*record, *ev.CertificateDeleted, error) {
	r, err := m.lookup(ref)
	if err != nil {
		return nil, nil, err
	}
	return r, &ev.CertificateDeleted{CertificateId: r.cert.Id}, nil
}

// attach decides AttachCertificate (attach) or DetachCertificate of ref and
// app; attaching twice or detaching what is not attached changes nothing
// (nil event). An attached certificate must cover one of the app's domains.
func (m *Model) attach(ref string, app appTarget, attach bool) (*record, proto.Message, error) {
	r, err := m.lookup(ref)
	if err != nil {
		return nil, nil, err
	}
	if slices.Contains(r.cert.AppIds, app.id) == attach {
		return r, nil, nil
	}
	if !attach {
		return r, &ev.CertificateDetached{CertificateId: r.cert.Id, AppId: app.id}, nil
	}
	if err := app.covers("certificate", r.cert.Domains); err != nil {
		return nil, nil, err
	}
	return r, &ev.CertificateAttached{CertificateId: r.cert.Id, AppId: app.id}, nil
}
