package cert

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	ev "github.com/strata-edge/strata/gen/strata/events/cert/v1"
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

var eventTypes = map[string]proto.Message{
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
}

var typeIDs = func() map[protoreflect.FullName]string {
	m := make(map[protoreflect.FullName]string, len(eventTypes))
	for id, msg := range eventTypes {
		m[msg.ProtoReflect().Descriptor().FullName()] = id
	}
	return m
}()

// IsCertEvent reports whether typeID is one of this service's events.
func IsCertEvent(typeID string) bool {
	_, ok := eventTypes[typeID]
	return ok
}

// Encode returns the type id and protobuf bytes of an event payload.
func Encode(msg proto.Message) (string, []byte, error) {
	id, ok := typeIDs[msg.ProtoReflect().Descriptor().FullName()]
	if !ok {
		return "", nil, fmt.Errorf("no event type id for %s", msg.ProtoReflect().Descriptor().FullName())
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		return "", nil, fmt.Errorf("encode %s: %w", id, err)
	}
	return id, data, nil
}

// Decode parses the payload of an event of type typeID.
func Decode(typeID string, data []byte) (proto.Message, error) {
	tmpl, ok := eventTypes[typeID]
	if !ok {
		return nil, fmt.Errorf("unknown event type %q", typeID)
	}
	msg := tmpl.ProtoReflect().Type().New().Interface()
	if err := proto.Unmarshal(data, msg); err != nil {
		return nil, fmt.Errorf("decode %s: %w", typeID, err)
	}
	return msg, nil
}

// streamOf is the event stream of certificate id.
func streamOf(id string) string { return "cert." + id }
