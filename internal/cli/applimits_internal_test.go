package cli

import (
	"strconv"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true}, {"1048576", 1 << 20, true}, {"512KiB", 512 << 10, true}, {"10MiB", 10 << 20, true},
		{"1GiB", 1 << 30, true}, {"10MB", 10_000_000, true}, {"16K", 16 << 10, true}, {"7 B", 7, true},
		{"", 0, false}, {"ten", 0, false}, {"-1", 0, false}, {"1.5MiB", 0, false}, {"99999999999GiB", 0, false},
	} {
		got, err := parseSize("--max-body", tt.in, 1<<40)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// FuzzParseSize: an accepted size is within the bound and reads back the
// same written in bytes.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"10MiB", "512KiB", "1048576", "1GB", "0", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize("--max-body", s, 1<<40)
		if err != nil {
			return
		}
		if n > 1<<40 {
			t.Fatalf("%q = %d, over the bound", s, n)
		}
		if again, err := parseSize("--max-body", strconv.FormatUint(n, 10), 1<<40); err != nil || again != n {
			t.Fatalf("%q = %d, but %d reads %d, %v", s, n, n, again, err)
		}
	})
}
