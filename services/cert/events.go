package cert

import (
	"google.golang.org/protobuf/proto"

	ev "github.com/strata-edge/strata/gen/strata/events/cert/v1"
	"github.com/strata-edge/strata/pkg/eventtype"
)

// Stable type ids of the cert events: data, never derived from Go or proto
// names (see proto/strata/events/cert/v1/events.proto).
const (
	TypeCertificateUploaded  = "cert.certificate.uploaded"
	TypeCertificateRequested = "cert.certificate.requested"
	TypeCertificateIssued    = "cert.certificate.issued"
	TypeIssuanceFailed       = "cert.issuance.failed"
	TypeCertificateAttached  = "cert.certificate.attached"
	TypeCertificateDetached  = "cert.certificate.detached"
	TypeKeyRewrapped         = "cert.key.rewrapped"
	TypeCertificateDeleted   = "cert.certificate.deleted"
	TypeCertificateRevoked   = "cert.certificate.revoked"
	TypeACMEAccount          = "cert.acme_account.registered"
	TypeACMEEAB              = "cert.acme_eab.set"
)

var registry = eventtype.New("cert", map[string]proto.Message{
	TypeCertificateUploaded:  (*ev.CertificateUploaded)(nil),
	TypeCertificateRequested: (*ev.CertificateRequested)(nil),
	TypeCertificateIssued:    (*ev.CertificateIssued)(nil),
	TypeIssuanceFailed:       (*ev.IssuanceFailed)(nil),
	TypeCertificateAttached:  (*ev.CertificateAttached)(nil),
	TypeCertificateDetached:  (*ev.CertificateDetached)(nil),
	TypeKeyRewrapped:         (*ev.KeyRewrapped)(nil),
	TypeCertificateDeleted:   (*ev.CertificateDeleted)(nil),
	TypeCertificateRevoked:   (*ev.CertificateRevoked)(nil),
	TypeACMEAccount:          (*ev.AcmeAccountRegistered)(nil),
	TypeACMEEAB:              (*ev.AcmeExternalAccountSet)(nil),
})

// streamOf is the event stream of certificate id.
func streamOf(id string) string { return "cert." + id }
