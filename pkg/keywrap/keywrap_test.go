package keywrap

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testRing(t *testing.T, lines ...string) *Keyring {
	t.Helper()
	r, err := Parse(strings.Join(lines, "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func line(t *testing.T) string {
	t.Helper()
	l, err := NewKeyLine()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestSealOpen(t *testing.T) {
	r := testRing(t, line(t))
	secret := []byte("-----BEGIN PRIVATE KEY----- secret")
	e, err := r.Seal("cert1", 3, secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(e.Ciphertext, secret) || bytes.Contains(e.WrappedDataKey, secret) {
		t.Fatal("payload visible in envelope")
	}
	got, err := r.Open(e, "cert1", 3)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	other := testRing(t, line(t))
	tamper := func(b []byte) []byte { c := bytes.Clone(b); c[len(c)-1] ^= 1; return c }
	tests := []struct {
		name    string
		ring    *Keyring
		env     Envelope
		id      string
		version uint64
		want    error
	}{
		{"other object", r, e, "cert2", 3, ErrOpen},
		{"other version", r, e, "cert1", 4, ErrOpen},
		{"tampered payload", r, Envelope{e.KEKID, e.WrappedDataKey, tamper(e.Ciphertext)}, "cert1", 3, ErrOpen},
		{"tampered data key", r, Envelope{e.KEKID, tamper(e.WrappedDataKey), e.Ciphertext}, "cert1", 3, ErrOpen},
		{"truncated", r, Envelope{e.KEKID, e.WrappedDataKey, e.Ciphertext[:5]}, "cert1", 3, ErrOpen},
		{"unknown kek", other, e, "cert1", 3, ErrUnknownKEK},
		{"kek id swapped", r, Envelope{"x", e.WrappedDataKey, e.Ciphertext}, "cert1", 3, ErrUnknownKEK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.ring.Open(tt.env, tt.id, tt.version); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	oldLine, newLine := line(t), line(t)
	old := testRing(t, oldLine)
	e, err := old.Seal("c", 1, []byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	// During rotation the new KEK is primary and the old one stays readable.
	rotating := testRing(t, newLine, oldLine)
	if got, err := rotating.Open(e, "c", 1); err != nil || string(got) != "key" {
		t.Fatalf("old envelope during rotation: %q, %v", got, err)
	}
	re, err := rotating.Rewrap(e, "c", 1, rotating)
	if err != nil {
		t.Fatal(err)
	}
	if re.KEKID != rotating.Primary() || re.KEKID == e.KEKID {
		t.Fatalf("rewrapped under %q", re.KEKID)
	}
	if !bytes.Equal(re.Ciphertext, e.Ciphertext) {
		t.Fatal("rewrap re-encrypted the payload")
	}
	// After rotation the old KEK can go.
	after := testRing(t, newLine)
	if got, err := after.Open(re, "c", 1); err != nil || string(got) != "key" {
		t.Fatalf("after rotation: %q, %v", got, err)
	}
	if _, err := after.Open(e, "c", 1); !errors.Is(err, ErrUnknownKEK) {
		t.Fatalf("old envelope after rotation: %v", err)
	}
}

func TestDerive(t *testing.T) {
	l := line(t)
	r := testRing(t, l)
	pa, err := r.Derive("partition-a")
	if err != nil {
		t.Fatal(err)
	}
	pa2, _ := testRing(t, l).Derive("partition-a")
	pb, _ := r.Derive("partition-b")
	e, _ := r.Seal("c", 1, []byte("key"))
	forA, err := r.Rewrap(e, "c", 1, pa)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := pa2.Open(forA, "c", 1); err != nil || string(got) != "key" {
		t.Fatalf("derived again: %q, %v", got, err)
	}
	if _, err := pb.Open(forA, "c", 1); err == nil {
		t.Fatal("another partition's key opened the envelope")
	}
	if _, err := pa.Open(e, "c", 1); err == nil {
		t.Fatal("partition key opened a control-plane envelope")
	}
}

func TestParseErrors(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(make([]byte, 32))
	tests := []struct{ name, text, want string }{
		{"empty", "", "no key-encryption key"},
		{"one field", "abc", "want"},
		{"not base64", "a !!!", "not base64"},
		{"short key", "a " + base64.StdEncoding.EncodeToString(make([]byte, 16)), "is 16 bytes"},
		{"duplicate", "a " + good + "\na " + good, "appears twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.text)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	r, err := Parse("# comment\nk1 " + good + "; k2 " + good)
	if err != nil || r.Primary() != "k1" || !r.Has("k2") {
		t.Fatalf("Parse = %v, %v", r, err)
	}
}

func TestLoadOrCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "kek")
	r1, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, %v", fi.Mode(), err)
	}
	r2, err := LoadOrCreate(path)
	if err != nil || r2.Primary() != r1.Primary() {
		t.Fatalf("second load: %v, %v", r2, err)
	}
	e, _ := r1.Seal("x", 0, []byte("k"))
	if _, err := r2.Open(e, "x", 0); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvVar, "")
	if _, err := Load(""); err == nil || !strings.Contains(err.Error(), EnvVar) {
		t.Fatalf("Load without env: %v", err)
	}
	b, _ := os.ReadFile(path)
	t.Setenv(EnvVar, string(b))
	if r3, err := Load(""); err != nil || r3.Primary() != r1.Primary() {
		t.Fatalf("Load from env: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("k " + base64.StdEncoding.EncodeToString(make([]byte, 32)))
	f.Add("a b;c d\n#x")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err == nil && !r.Has(r.Primary()) {
			t.Fatal("primary missing")
		}
	})
}

func TestSealToTransportKey(t *testing.T) {
	k, err := NewTransportKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckTransportKey(k.Public()); err != nil {
		t.Fatal(err)
	}
	if err := CheckTransportKey([]byte("short")); err == nil {
		t.Fatal("CheckTransportKey accepted a 5-byte key")
	}
	kr, err := Parse(mustLine(t) + "\n" + mustLine(t))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := SealTo(k.Public(), []byte("info-a"), []byte(kr.Text()))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), kr.Text()[:20]) {
		t.Fatal("sealed payload holds the clear key")
	}
	plain, err := k.Open([]byte("info-a"), sealed)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(string(plain))
	if err != nil || back.Primary() != kr.Primary() || back.Text() != kr.Text() {
		t.Fatalf("round trip: %v %q", err, plain)
	}
	if _, err := k.Open([]byte("info-b"), sealed); err == nil {
		t.Fatal("opened with another info")
	}
	other, _ := NewTransportKey()
	if _, err := other.Open([]byte("info-a"), sealed); err == nil {
		t.Fatal("opened with another key")
	}
}

func mustLine(t *testing.T) string {
	t.Helper()
	l, err := NewKeyLine()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// BenchmarkSealToOpen is one node KEK hand-over: seal at the control plane,
// open at the node (HPKE ML-KEM-768 + X25519).
func BenchmarkSealToOpen(b *testing.B) {
	k, _ := NewTransportKey()
	line, _ := NewKeyLine()
	for b.Loop() {
		ct, err := SealTo(k.Public(), []byte("info"), []byte(line))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := k.Open([]byte("info"), ct); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzTransportOpen: whatever arrives as a sealed node KEK, Open fails
// cleanly unless it is exactly what was sealed, with the same info.
func FuzzTransportOpen(f *testing.F) {
	k, err := NewTransportKey()
	if err != nil {
		f.Fatal(err)
	}
	sealed, err := SealTo(k.Public(), []byte("info"), []byte("payload"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("info"), sealed)
	f.Add([]byte(""), []byte{})
	f.Add([]byte("info"), sealed[:len(sealed)-1])
	f.Fuzz(func(t *testing.T, info, ct []byte) {
		p, err := k.Open(info, ct)
		if err == nil && (string(p) != "payload" || string(info) != "info" || !bytes.Equal(ct, sealed)) {
			t.Fatalf("opened %q from a ciphertext that was not sealed to this key and info", p)
		}
	})
}

// TestLoadRefusesOpenKeyFile: kek.key and node.kek are refused, like
// admin.token, when group or others may read them (issue 11 defect 6).
func TestLoadRefusesOpenKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek.key")
	if _, err := LoadOrCreate(path); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		for name, load := range map[string]func(string) (*Keyring, error){"Load": Load, "LoadOrCreate": LoadOrCreate} {
			_, err := load(path)
			if want := fmt.Sprintf("%s: mode %#o", path, mode); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s with mode %#o: %v, want an error containing %q", name, mode, err, want)
			}
		}
	}
}
