package cli

import (
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// limitFlags are an HTTP app's request size and connection limits
// (App.limits). --max-conns-per-ip is the role flags' (on an HTTP app it
// sets limits.max_conns_per_ip).
type limitFlags struct {
	maxBody, maxHeader string
	tlsRate            string
	tlsBurst           uint32
}

var limitFlagNames = []string{"max-body", "max-header", "tls-handshake-rate", "tls-handshake-burst"}

func (f *limitFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.maxBody, "max-body", "", "HTTP app: largest request body, e.g. 10MiB (413 beyond; 0 = the node's, 64 MiB)")
	fs.StringVar(&f.maxHeader, "max-header", "", "HTTP app: largest request line plus headers, e.g. 16KiB (431 beyond; 0 = the node's)")
	fs.StringVar(&f.tlsRate, "tls-handshake-rate", "", "HTTP app: TLS handshakes per second per client IP on each node, e.g. 20/s (0 = no limit)")
	fs.Uint32Var(&f.tlsBurst, "tls-handshake-burst", 0, "burst of --tls-handshake-rate (0 = the rate)")
}

// limits returns the app limits the flags give over cur (nil: none): the
// flags not given keep cur's values.
func (f *limitFlags) limits(fs *pflag.FlagSet, maxConnsPerIP uint32, cur *configv1.AppLimits) (*configv1.AppLimits, error) {
	if !anyChanged(fs, limitFlagNames) && !fs.Changed("max-conns-per-ip") {
		return cur, nil
	}
	l := &configv1.AppLimits{}
	if cur != nil {
		l = proto.Clone(cur).(*configv1.AppLimits)
	}
	if fs.Changed("max-body") {
		n, err := parseSize("--max-body", f.maxBody, 1<<62)
		if err != nil {
			return nil, err
		}
		l.MaxRequestBodyBytes = n
	}
	if fs.Changed("max-header") {
		n, err := parseSize("--max-header", f.maxHeader, 1<<32-1)
		if err != nil {
			return nil, err
		}
		l.MaxRequestHeaderBytes = uint32(n)
	}
	if fs.Changed("max-conns-per-ip") {
		l.MaxConnsPerIp = maxConnsPerIP
	}
	if fs.Changed("tls-handshake-rate") {
		s := strings.TrimSuffix(f.tlsRate, "/s")
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return nil, usagef("--tls-handshake-rate %q: want handshakes per second, e.g. 20/s", f.tlsRate)
		}
		l.TlsHandshakesPerSecond = uint32(n)
	}
	if fs.Changed("tls-handshake-burst") {
		l.TlsHandshakeBurst = f.tlsBurst
	}
	if proto.Equal(l, &configv1.AppLimits{}) {
		return nil, nil
	}
	return l, nil
}

// sizeUnits are the suffixes parseSize reads (longest first).
var sizeUnits = []struct {
	suffix string
	mult   uint64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000_000}, {"GB", 1000_000_000},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1},
}

// parseSize reads a byte size: 1048576, 512KiB, 10MiB, 1GiB, 10MB (powers
// of ten), at most max.
func parseSize(flag, s string, max uint64) (uint64, error) {
	num, mult := strings.TrimSpace(s), uint64(1)
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || (n != 0 && n*mult/mult != n) || n*mult > max {
		return 0, usagef("%s %q: want a size such as 1048576, 512KiB or 10MiB", flag, s)
	}
	return n * mult, nil
}
