package validate

import (
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"testing"

	"github.com/strata-edge/strata/pkg/eventstore"
)

func TestName(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"shop", ""},
		{"a.b-c_d9", ""},
		{strings.Repeat("a", MaxNameLength), ""},
		{"", "is required"},
		{strings.Repeat("a", MaxNameLength+1), "is 65 characters long, more than 64"},
		{"-a", `"-a" must start with a lower-case letter or digit`},
		{".a", `".a" must start with a lower-case letter or digit`},
		{"a..b", `"a..b" must not contain ".."`},
		{"a.", `"a." must not end with '.'`},
		{"Shop", `"Shop": invalid character 'S' is not allowed (names are lower case letters, digits, '-', '_' and '.')`},
		{"a/b", `"a/b": invalid character '/' is not allowed`},
		{"é", `"é": invalid character 'é' is not allowed`},
	} {
		got := Name(tt.in)
		if tt.want == "" && got != "" || !strings.HasPrefix(got, tt.want) {
			t.Errorf("Name(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestToken(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"X-User", ""},
		{"!#$%&'*+-.^_`|~09azAZ", ""},
		{"", "header name is empty"},
		{"X Y", `"X Y" is not a valid header name: character ' ' is not allowed`},
		{"a:b", `"a:b" is not a valid header name: character ':' is not allowed`},
		{"Ä", `"Ä" is not a valid header name: character 'Ä' is not allowed`},
		{"a\x00", `"a\x00" is not a valid header name: character '\x00' is not allowed`},
	} {
		if got := Token("header name", tt.in); got != tt.want {
			t.Errorf("Token(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if IsToken(tt.in) != (tt.want == "") {
			t.Errorf("IsToken(%q) = %v, want %v", tt.in, !(tt.want == ""), tt.want == "")
		}
	}
}

func TestSubjectToken(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"p1", ""},
		{"node-1_a", ""},
		{"", "required"},
		{"p.1", `must not contain "."`},
		{"n*", `must not contain "*"`},
		{"a>b", `must not contain ">"`},
		{"a b", `must not contain " "`},
	} {
		if got := SubjectToken(tt.in); got != tt.want {
			t.Errorf("SubjectToken(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseHashKey(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    HashKey
		wantErr string
	}{
		{"", HashKey{Kind: "client_ip"}, ""},
		{"client_ip", HashKey{Kind: "client_ip"}, ""},
		{"uri", HashKey{Kind: "uri"}, ""},
		{"path", HashKey{Kind: "path"}, ""},
		{"header:X-User", HashKey{"header", "X-User"}, ""},
		{"cookie:sid", HashKey{"cookie", "sid"}, ""},
		{"query:user_id", HashKey{"query", "user_id"}, ""},
		{"body", HashKey{}, `"body": want "client_ip", "uri", "path", "header:NAME", "cookie:NAME" or "query:NAME"`},
		{"header", HashKey{}, `"header": want`},
		{"header:", HashKey{}, `"header:": header name is empty`},
		{"cookie:a;b", HashKey{}, `"cookie:a;b": "a;b" is not a valid cookie name: character ';' is not allowed`},
		{"query:a b", HashKey{}, `"query:a b": "a b" is not a valid query name: character ' ' is not allowed`},
	} {
		got, err := ParseHashKey(tt.in)
		switch {
		case tt.wantErr == "" && (err != nil || got != tt.want):
			t.Errorf("ParseHashKey(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
			t.Errorf("ParseHashKey(%q) error %v, want %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestRegexp(t *testing.T) {
	for _, tt := range []struct{ in, wantErr string }{
		{`^/img/[a-z]+\.png$`, ""},
		{strings.Repeat("a", MaxRegexpLength), ""},
		{strings.Repeat("a", MaxRegexpLength+1), "regexp is 1025 bytes long, more than 1024"},
		{"(", `invalid regexp "(": missing closing )`},
		{`a\q`, `invalid regexp "a\\q": invalid escape sequence at "\\q"`},
		{`(a)\1`, `invalid regexp "(a)\\1": invalid escape sequence at "\\1"`},
		{"a{1000}b{1000}c{1000}d{1000}e{1000}f{1000}", "regexp too large (more than 5000 instructions)"},
		// Refused by the estimate before a program of millions of
		// instructions is built.
		{strings.Repeat(`\pL{1000}`, 100), "regexp too large (more than 5000 instructions)"},
	} {
		re, err := Regexp(tt.in)
		switch {
		case tt.wantErr == "" && (err != nil || re == nil):
			t.Errorf("Regexp(%.40q) = %v", tt.in, err)
		case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
			t.Errorf("Regexp(%.40q) error %v, want %q", tt.in, err, tt.wantErr)
		}
	}
}

// Accepted names are stream name segments, so ids derived from them are valid.
func FuzzName(f *testing.F) {
	for _, s := range []string{"alice", "john.doe", "a..b", ".x", "x.", "Bob", "", "a-b_c.d", "9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if Name(s) != "" {
			return
		}
		if err := eventstore.ValidateStreamName("user." + s); err != nil || len(s) > MaxNameLength {
			t.Fatalf("name %q accepted but not a stream segment: %v", s, err)
		}
	})
}

var tokenRE = regexp.MustCompile("^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$")

// Token, IsToken and TokenByte agree with the grammar of RFC 9110 section 5.6.2.
func FuzzToken(f *testing.F) {
	for _, s := range []string{"X-User", "", "a b", "a:b", "Ä", "~|`", "\x7f", "a\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := tokenRE.MatchString(s)
		if IsToken(s) != want || (Token("name", s) == "") != want {
			t.Fatalf("%q: IsToken %v, Token %q, want token %v", s, IsToken(s), Token("name", s), want)
		}
		for i := 0; i < len(s); i++ {
			if TokenByte(s[i]) != tokenRE.MatchString(s[i:i+1]) {
				t.Fatalf("TokenByte(%q) = %v", s[i], TokenByte(s[i]))
			}
		}
	})
}

// An accepted regexp is what regexp.Compile gives, within both bounds; a
// refused one says one of three reasons.
func FuzzRegexp(f *testing.F) {
	for _, s := range []string{"^/a", "(", `a\q`, "a{1000}b{1000}c{1000}d{1000}e{1000}f{1000}", `(\pL{1000}){1000}`, "((a|b)*c){2,9}", `[^\x00-\x{10FFFF}]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		re, err := Regexp(s)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "regexp is ") && !strings.HasPrefix(msg, "invalid regexp ") && !strings.HasPrefix(msg, "regexp too large ") {
				t.Fatalf("%q: unexpected error %q", s, msg)
			}
			if strings.HasPrefix(msg, "invalid regexp ") {
				if _, err := regexp.Compile(s); err == nil {
					t.Fatalf("%q: refused as invalid but regexp.Compile accepts it", s)
				}
			}
			return
		}
		if re.String() != s || len(s) > MaxRegexpLength {
			t.Fatalf("%q: accepted as %q", s, re.String())
		}
		parsed, _ := syntax.Parse(s, syntax.Perl)
		if prog, _ := syntax.Compile(parsed.Simplify()); len(prog.Inst) > MaxRegexpInstructions {
			t.Fatalf("%q: %d instructions accepted", s, len(prog.Inst))
		}
	})
}

// ParseHashKey accepts exactly the grammar, and an accepted key prints back
// as itself.
func FuzzParseHashKey(f *testing.F) {
	for _, s := range []string{"", "client_ip", "uri", "path", "header:X-User", "cookie:sid", "query:q", "header:", "body", "header:a:b", "query:a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseHashKey(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), strconv.Quote(s)+": ") {
				t.Fatalf("%q: error %q does not quote the key", s, err)
			}
			return
		}
		back := k.Kind
		switch k.Kind {
		case "header", "cookie", "query":
			if !IsToken(k.Name) {
				t.Fatalf("%q: name %q is not a token", s, k.Name)
			}
			back += ":" + k.Name
		case "client_ip", "uri", "path":
			if k.Name != "" {
				t.Fatalf("%q: %+v", s, k)
			}
		default:
			t.Fatalf("%q: kind %q", s, k.Kind)
		}
		if back != s && !(s == "" && back == "client_ip") {
			t.Fatalf("%q parsed as %+v", s, k)
		}
	})
}

// IsToken reports whether s is a non-empty RFC 9110 token.
func IsToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !tchar[s[i]] {
			return false
		}
	}
	return s != ""
}
