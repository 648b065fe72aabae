package nodes_test

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/pkg/keywrap"
	"github.com/strata-edge/strata/services/nodes"
)

// TestJoinSealsNodeKEK: a node waiting for approval gets no KEK; once
// approved it gets its partition's node KEK sealed to its transport key,
// which only that key opens, and neither the KEK nor the transport key is
// recorded in the event log.
func TestJoinSealsNodeKEK(t *testing.T) {
	control, err := keywrap.Parse(mustKeyLine(t))
	if err != nil {
		t.Fatal(err)
	}
	var asked []string
	e := newEnv(t, func(o *nodes.Options) {
		o.NodeKEK = func(p string) (*keywrap.Keyring, error) {
			asked = append(asked, p)
			return control.Derive("partition/" + p)
		}
	})
	want, _ := control.Derive("partition/" + partitionID)

	tok := e.createToken(t, &configv1.CreateJoinTokenRequest{Cluster: clusterID})
	key := newKey(t)
	tk, err := keywrap.NewTransportKey()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := key.kp.Sign(keywrap.NodeKEKSignedMessage(tk.Public()))
	if err != nil {
		t.Fatal(err)
	}
	req := &configv1.JoinRequest{JoinToken: tok.GetToken(), Name: "edge-k", PublicKey: key.pub,
		KekPublicKey: tk.Public(), KekPublicKeySignature: sig}
	first, err := e.anon.Join(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if first.GetApproved() || first.GetNodeKek() != nil || len(asked) != 0 {
		t.Fatalf("unapproved node got a KEK: %v (asked %v)", first.GetNodeKek(), asked)
	}
	id := first.GetNode().GetId()
	if _, err := e.admin.ApproveNode(t.Context(), &configv1.ApproveNodeRequest{NodeId: id}); err != nil {
		t.Fatal(err)
	}
	res, err := e.grpc.Join(t.Context(), req) // the approved node fetches its credentials
	if err != nil {
		t.Fatal(err)
	}
	sealed := res.GetNodeKek()
	if sealed.GetSuite() != keywrap.SealedSuite || len(sealed.GetCiphertext()) == 0 {
		t.Fatalf("node_kek = %v", sealed)
	}
	plain, err := tk.Open(keywrap.NodeKEKInfo(id, partitionID), sealed.GetCiphertext())
	if err != nil {
		t.Fatal(err)
	}
	got, err := keywrap.Parse(string(plain))
	if err != nil || got.Text() != want.Text() {
		t.Fatalf("opened KEK = %q (%v), want the partition's node KEK", plain, err)
	}
	if _, err := tk.Open(keywrap.NodeKEKInfo(id, "part_other"), sealed.GetCiphertext()); err == nil {
		t.Fatal("the sealed KEK opened for another partition")
	}

	// Neither the response on the wire nor the log holds the KEK in clear,
	// nor (the log) the transport key.
	raw := rawKEK(t, want)
	wire, _ := proto.Marshal(res)
	if bytes.Contains(wire, raw) || bytes.Contains(wire, []byte(base64.StdEncoding.EncodeToString(raw))) {
		t.Fatal("the join response holds the node KEK in clear")
	}
	events, err := e.store.ReadAll(t.Context(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		for _, needle := range [][]byte{raw, []byte(base64.StdEncoding.EncodeToString(raw)), tk.Public()[:64]} {
			if bytes.Contains(ev.Data, needle) {
				t.Fatalf("event %s (%s) holds key material", ev.ID, ev.Type)
			}
		}
	}
}

func TestJoinRejectsBadKEKKey(t *testing.T) {
	e := newEnv(t)
	tok := e.createToken(t, &configv1.CreateJoinTokenRequest{Cluster: clusterID, AutoApprove: true})
	key, thief := newKey(t), newKey(t)
	tk, _ := keywrap.NewTransportKey()
	good, _ := key.kp.Sign(keywrap.NodeKEKSignedMessage(tk.Public()))
	stolen, _ := thief.kp.Sign(keywrap.NodeKEKSignedMessage(tk.Public()))
	for _, tc := range []struct {
		name  string
		pub   []byte
		sig   []byte
		field string
	}{
		{"not a key", []byte("short"), good, "kek_public_key"},
		{"no signature", tk.Public(), nil, "kek_public_key_signature"},
		{"signed by another nkey", tk.Public(), stolen, "kek_public_key_signature"},
		{"signature without key", nil, good, "kek_public_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.anon.Join(t.Context(), &configv1.JoinRequest{JoinToken: tok.GetToken(), Name: "edge-x",
				PublicKey: key.pub, KekPublicKey: tc.pub, KekPublicKeySignature: tc.sig})
			if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Join: %v, want InvalidArgument naming %s", err, tc.field)
			}
		})
	}
	// Nothing was registered by the rejected joins.
	if tokens, _ := e.store.ReadAll(t.Context(), 0, 0); len(tokens) != 2 { // cluster + join token
		t.Fatalf("log has %d events, want 2", len(tokens))
	}
}

func mustKeyLine(t *testing.T) string {
	t.Helper()
	l, err := keywrap.NewKeyLine()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// rawKEK returns the 32 key bytes of a one-key keyring.
func rawKEK(t *testing.T, kr *keywrap.Keyring) []byte {
	t.Helper()
	f := strings.Fields(kr.Text())
	b, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		t.Fatal(err)
	}
	return b
}
