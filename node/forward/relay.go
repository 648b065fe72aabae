package forward

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	pstats "github.com/strata-edge/strata/node/proxy/stats"
)

// AppStats are the counters of one forward-proxy app on this node.
type AppStats struct {
	// Connections by result (Results): one per client connection (SOCKS5,
	// HTTP CONNECT) or absolute-form request.
	Connections map[string]uint64
	// BytesIn went from clients to destinations, BytesOut back.
	BytesIn, BytesOut uint64
	// Open are the client connections open now.
	Open int64
}

type appCounters struct {
	conns         [16]atomic.Uint64 // by resultIndex
	in, out, open atomic.Int64
	// sec feeds the metrics reports (node/stats): a forwarded connection
	// is one request with its bytes, a refused one counts as refused.
	sec *pstats.App
}

var resultIndex = func() map[string]int {
	m := map[string]int{}
	for i, r := range Results {
		m[r] = i
	}
	return m
}()

func (f *Forwarder) counters(appID string) *appCounters {
	if c, ok := f.stats.Load(appID); ok {
		return c.(*appCounters)
	}
	c, _ := f.stats.LoadOrStore(appID, &appCounters{sec: pstats.NewApp(f.opts.PerSecondStats)})
	return c.(*appCounters)
}

// TakeSeconds hands over the per-second aggregates of the forward-proxy
// apps (node/stats Source), with Options.PerSecondStats.
func (f *Forwarder) TakeSeconds(before int64, out []*metricsv1.AppSecond) ([]*metricsv1.AppSecond, uint64) {
	var dropped uint64
	f.stats.Range(func(k, v any) bool {
		var d uint64
		out, d = v.(*appCounters).sec.TakeSeconds(k.(string), before, out)
		dropped += d
		return true
	})
	return out, dropped
}

// Stats returns the counters of every app the node has run, by app id.
func (f *Forwarder) Stats() map[string]AppStats {
	out := map[string]AppStats{}
	f.stats.Range(func(k, v any) bool {
		c := v.(*appCounters)
		s := AppStats{Connections: map[string]uint64{}, BytesIn: uint64(c.in.Load()), BytesOut: uint64(c.out.Load()), Open: c.open.Load()}
		for i, r := range Results {
			s.Connections[r] = c.conns[i].Load()
		}
		out[k.(string)] = s
		return true
	})
	return out
}

// record is one forwarded connection, logged and counted when it ends.
type record struct {
	f       *Forwarder
	app     *app
	c       *appCounters
	proto   string // socks5, socks5-udp, http-connect, http
	user    string
	client  netip.AddrPort
	dest    string
	start   time.Time
	in, out atomic.Int64
	result  string
	reason  string
}

func (f *Forwarder) newRecord(a *app, proto string, client netip.AddrPort) *record {
	r := &record{f: f, app: a, c: f.counters(a.id), proto: proto, client: client, start: time.Now(), result: resultError}
	r.c.open.Add(1)
	return r
}

func (r *record) addIn(n int)  { r.in.Add(int64(n)); r.c.in.Add(int64(n)) }
func (r *record) addOut(n int) { r.out.Add(int64(n)); r.c.out.Add(int64(n)) }

func (r *record) done() {
	r.c.open.Add(-1)
	r.c.conns[resultIndex[r.result]].Add(1)
	if r.result == resultOK {
		r.c.sec.Conn(time.Now(), r.in.Load(), r.out.Load())
	} else {
		r.c.sec.Refused()
	}
	attrs := []any{"app", r.app.id, "proto", r.proto, "user", r.user, "client", r.client.String(),
		"dest", r.dest, "bytes_in", r.in.Load(), "bytes_out", r.out.Load(),
		"duration_ms", time.Since(r.start).Milliseconds(), "result", r.result}
	if r.reason != "" {
		attrs = append(attrs, "reason", r.reason)
	}
	r.f.log.Info("forwarded", attrs...)
}

func addrPortOf(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort()
	case *net.UDPAddr:
		return a.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// relay copies both ways between client and dest until both directions
// end or neither moved a byte for idle; it closes neither connection.
func relay(client, dest net.Conn, idle time.Duration, rec *record) {
	var last atomic.Int64 // unix nanos of the last byte either way
	last.Store(time.Now().UnixNano())
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src net.Conn, count func(int)) {
		defer wg.Done()
		bp := bufPool.Get().(*[]byte)
		defer bufPool.Put(bp)
		buf := *bp
		for {
			_ = src.SetReadDeadline(time.Now().Add(idle))
			n, err := src.Read(buf)
			if n > 0 {
				last.Store(time.Now().UnixNano())
				if _, werr := dst.Write(buf[:n]); werr != nil {
					_ = src.Close()
					_ = dst.Close()
					return
				}
				count(n)
			}
			if err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) && time.Since(time.Unix(0, last.Load())) < idle {
					continue // the other direction is busy
				}
				if errors.Is(err, io.EOF) {
					if cw, ok := dst.(interface{ CloseWrite() error }); ok {
						_ = cw.CloseWrite()
						return
					}
				}
				_ = src.Close()
				_ = dst.Close()
				return
			}
		}
	}
	go pipe(dest, client, rec.addIn)
	pipe(client, dest, rec.addOut)
	wg.Wait()
}
