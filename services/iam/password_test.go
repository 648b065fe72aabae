package iam

import (
	"context"
	"github.com/strata-edge/strata/pkg/passhash"
	"strings"
	"testing"

	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/validate"
)

func TestPasswordHashing(t *testing.T) {
	for _, p := range []passhash.Params{passhash.Default, {Memory: 64, Time: 1, Threads: 1, KeyLen: 32}} {
		h := passhash.Hash("correct horse battery staple", p)
		if !strings.HasPrefix(h, "$argon2id$v=19$") {
			t.Fatalf("hash %q is not an argon2id PHC string", h)
		}
		if h2 := passhash.Hash("correct horse battery staple", p); h2 == h {
			t.Fatal("two hashes of one password are equal: no salt")
		}
		for pw, want := range map[string]bool{"correct horse battery staple": true, "correct horse battery stapl": false, "": false} {
			ok, err := passhash.Verify(h, pw)
			if err != nil || ok != want {
				t.Fatalf("verify(%q) = %v, %v; want %v", pw, ok, err, want)
			}
		}
	}
}

func TestParsePHCRejects(t *testing.T) {
	good := passhash.Hash("x", passhash.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32})
	parts := strings.Split(good, "$")
	tests := []struct{ name, in, want string }{
		{"empty", "", "want $argon2id"},
		{"bcrypt", "$2a$10$abcdefghijklmnopqrstuu", "want $argon2id"},
		{"argon2i", strings.Replace(good, "argon2id", "argon2i", 1), `algorithm "argon2i"`},
		{"version", strings.Replace(good, "v=19", "v=16", 1), "version"},
		{"huge memory", strings.Replace(good, "m=64", "m=4000000000", 1), "m=4000000000"},
		{"zero time", strings.Replace(good, "t=1", "t=0", 1), "t=0"},
		{"missing param", strings.Replace(good, ",p=1", "", 1), "all required"},
		{"unknown param", strings.Replace(good, "p=1", "p=1,x=2", 1), `unknown parameter "x"`},
		{"short salt", strings.Join(append(parts[:4:4], "AAAA", parts[5]), "$"), "salt"},
		{"bad hash", strings.Join(append(parts[:5:5], "!!"), "$"), "hash must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, _, err := passhash.Parse(tt.in); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("passhash.Parse(%q) = %v, want error with %q", tt.in, err, tt.want)
			}
		})
	}
}

func FuzzParsePHC(f *testing.F) {
	f.Add(passhash.Hash("x", passhash.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32}))
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2id$v=19$m=1,t=1,p=1$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := passhash.Parse(s)
		if err != nil {
			return
		}
		// Whatever parses stays within the bounds that keep a login cheap.
		if p.Memory > passhash.MaxMemory || p.Time < 1 || p.Time > passhash.MaxTime || p.Threads < 1 ||
			p.Memory < 8*uint32(p.Threads) || len(salt) < 8 || len(key) < 16 || int(p.KeyLen) != len(key) {
			t.Fatalf("passhash.Parse(%q) accepted out-of-bounds %+v salt %d key %d", s, p, len(salt), len(key))
		}
	})
}

func TestCheckPassword(t *testing.T) {
	tests := []struct{ name, user, pw, want string }{
		{"good", "bob", "correct horse battery staple", ""},
		{"unicode counts characters", "bob", "ñandú-ñandú-ñ", ""},
		{"short", "bob", "Tr0ub4dor&3", "at least 12 characters long (has 11)"},
		{"contains user name", "alice", "xxALICExx-1234", "must not contain the user name"},
		{"few distinct", "bob", "abababababababab", "at least 5 different"},
		{"common", "bob", "Password1234", "commonly used"},
		{"too long", "bob", strings.Repeat("abcdefgh", 40), "at most 256 bytes"},
		{"invalid utf-8", "bob", "abcdefghijk\xff", "valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkPassword(tt.user, tt.pw)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Fatalf("checkPassword(%q) = %q, want %q", tt.pw, got, tt.want)
			}
		})
	}
}

func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"alice", "john.doe", "a..b", ".x", "x.", "Bob", "", "a-b_c.d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if validate.Name(s) != "" {
			return
		}
		// Accepted names are usable as stream name segments.
		if err := validateStreamName(userStream(s)); err != nil {
			t.Fatalf("name %q accepted but stream invalid: %v", s, err)
		}
	})
}

// BenchmarkHashPassword is the cost of one login's password check.
func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		passhash.Hash("correct horse battery staple", passhash.Default)
	}
}

// BenchmarkAuthenticate is the per-request cost of checking an API token.
func BenchmarkAuthenticate(b *testing.B) {
	svc, err := New(Options{Store: nopStore{}, Argon2: cheapArgon})
	if err != nil {
		b.Fatal(err)
	}
	secret := apiauth.NewToken()
	svc.proj.Write(func(st *state) {
		st.users["bob"] = &user{name: "bob", groups: map[string]bool{}}
		st.tokens["tok_1"] = &token{id: "tok_1", user: "bob"}
		st.tokenByHash[hashSecret(secret)] = "tok_1"
	})
	ctx := context.Background()
	for b.Loop() {
		if _, err := svc.authenticate(ctx, secret); err != nil {
			b.Fatal(err)
		}
	}
}
