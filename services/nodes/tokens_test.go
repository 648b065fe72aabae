package nodes

import (
	"bytes"
	"strings"
	"testing"

	"github.com/strata-edge/strata/pkg/ids"
)

func TestTokenRoundTrip(t *testing.T) {
	id := ids.New(prefixJoinToken)
	secret, digest := newSecret()
	gotID, gotDigest, err := parseToken(formatToken(id, secret))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if gotID != id || !bytes.Equal(gotDigest, digest) || !secretMatches(digest, gotDigest) {
		t.Fatalf("round trip: id %q digest match %v", gotID, secretMatches(digest, gotDigest))
	}
	_, other := newSecret()
	if secretMatches(digest, other) {
		t.Fatal("different secrets match")
	}
}

func TestParseTokenRejects(t *testing.T) {
	id := ids.New(prefixJoinToken)
	secret, _ := newSecret()
	tests := []struct{ name, token string }{
		{"empty", ""},
		{"no dot", id + secret},
		{"no secret", id + "."},
		{"bad id prefix", "node_aaaaaaaaaaaaaaaa." + secret},
		{"upper-case id", strings.ToUpper(id) + "." + secret},
		{"short secret", id + "." + secret[:20]},
		{"padded secret", id + "." + secret + "="},
		{"non-base64 secret", id + "." + strings.Repeat("!", 43)},
		{"huge", id + "." + strings.Repeat("a", 1000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := parseToken(tt.token); err == nil {
				t.Fatalf("parseToken(%q) accepted", tt.token)
			}
		})
	}
}

func FuzzParseToken(f *testing.F) {
	secret, _ := newSecret()
	f.Add(ids.New(prefixJoinToken) + "." + secret)
	f.Add("jtok_.")
	f.Add("garbage")
	f.Fuzz(func(t *testing.T, token string) {
		id, digest, err := parseToken(token)
		if err != nil {
			return
		}
		if !validTokenID(id) || len(digest) != 32 {
			t.Fatalf("accepted %q as id %q digest %d bytes", token, id, len(digest))
		}
		if strings.ContainsAny(id, ".*> ") {
			t.Fatalf("id %q is not a single safe token", id)
		}
	})
}
