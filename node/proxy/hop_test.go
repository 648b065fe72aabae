package proxy

import "testing"

func TestScanHeaders(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want uint16
	}{
		{"none", "Host: a\r\nUser-Agent: x\r\nAccept: */*\r\n", 0},
		{"connection any case", "Host: a\r\nCONNECTION: close\r\n", hdrConnection},
		{"proxy prefix", "proxy-authorization: x\r\n", hdrProxy},
		{"te is not text", "Text: 1\r\nTE: trailers\r\n", hdrTE},
		{"x-forwarded-for and via", "X-Forwarded-For: 1.2.3.4\r\nVia: 1.1 a\r\n", hdrXFF | hdrVia},
		{"x-forwarded-host is not for", "X-Forwarded-Host: a\r\n", 0},
		{"upgrade and expect", "Upgrade: websocket\r\nExpect: 100-continue\r\n", hdrUpgrade | hdrExpect},
		{"value does not count", "X-A: connection: close\r\n", 0},
		{"keep-alive", "Keep-Alive: 5\r\nTrailer: x\r\n", hdrKeepAlive | hdrTrailer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scanHeaders([]byte(tt.raw)); got != tt.want {
				t.Fatalf("scanHeaders(%q) = %b, want %b", tt.raw, got, tt.want)
			}
		})
	}
}

func FuzzScanHeaders(f *testing.F) {
	f.Add([]byte("Host: a\r\nConnection: x\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		got := scanHeaders(raw)
		// Every bit reported must be the start of a line.
		for _, n := range scanNames {
			if got&n.bit == 0 {
				continue
			}
			ok := hasPrefixFold(raw, n.name)
			for i := 0; i < len(raw) && !ok; i++ {
				if raw[i] == '\n' && hasPrefixFold(raw[i+1:], n.name) {
					ok = true
				}
			}
			if !ok {
				t.Fatalf("bit for %q set without such a line in %q", n.name, raw)
			}
		}
	})
}
