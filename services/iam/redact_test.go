package iam

import (
	"encoding/base64"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	certeventsv1 "github.com/strata-edge/strata/gen/strata/events/cert/v1"
)

// TestAuditHidesUploadedKey is issue 11 defect 7: the audit JSON of an
// uploaded certificate showed material.key (wrapped data key and
// ciphertext) to a viewer.
func TestAuditHidesUploadedKey(t *testing.T) {
	wrapped, ct := []byte("wrapped-data-key-bytes"), []byte("ciphertext-of-the-private-key")
	ev := &certeventsv1.CertificateUploaded{CertificateId: "crt_1", Name: "www", Material: &certeventsv1.Material{
		ChainPem: "-----BEGIN CERTIFICATE-----", Domains: []string{"www.example.com"},
		Key: &certv1.WrappedKey{KekId: "k1", WrappedDataKey: wrapped, Ciphertext: ct, KeyVersion: 1}}}
	data, err := proto.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	js := payloadJSON("cert.certificate.uploaded", data)
	if !strings.Contains(js, `"domains":["www.example.com"]`) {
		t.Fatalf("payload JSON lacks the certificate's domains: %s", js)
	}
	for _, leak := range []string{`"key"`, base64.StdEncoding.EncodeToString(wrapped), base64.StdEncoding.EncodeToString(ct), "wrapped_data_key", "ciphertext"} {
		if strings.Contains(js, leak) {
			t.Errorf("payload JSON shows %s: %s", leak, js)
		}
	}
}
