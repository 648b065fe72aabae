package stream

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/strata-edge/strata/node/proxy/stats"
	"github.com/strata-edge/strata/node/proxy/upstream"
	"github.com/strata-edge/strata/node/stream/udpproxy"
)

// udpRunner serves a UDP listener.
type udpRunner interface {
	serve()
	update(a *app)
	addr() net.Addr
	close()
}

// udpListener is a UDP listener run by node/stream/udpproxy: one session
// per client address to a server of the app's upstream (its balancer and
// health); a session counts as one connection of the app.
type udpListener struct {
	s  *Stream
	k  lkey
	pc net.PacketConn
	p  *udpproxy.Proxy
}

// bindUDP opens the socket of a UDP listener.
func (s *Stream) bindUDP(l *listener, addr string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	u := &udpListener{s: s, k: l.key, pc: pc}
	u.p = udpproxy.New(pc, u.config(l.current()))
	l.udp = u
	return nil
}

var errNoUDPUpstream = errors.New("UDP listeners use the app's upstream (no SNI routes)")

func (u *udpListener) config(a *app) udpproxy.Config {
	c := udpproxy.Config{
		IdleTimeout: a.udpIdle,
		MaxSessions: int(a.maxConns),
		Log:         u.s.log.With("app", a.id, "listener", u.k.String()),
		Pick: func(client netip.AddrPort) (string, error) {
			if a.def == nil {
				return "", errNoUDPUpstream
			}
			srv, err := a.def.Pick(clientRequest{ip: client.Addr()}, upstream.Tried{})
			if err != nil {
				a.stats.Attempt(time.Now(), "", 0, stats.UpstreamNoServer)
				return "", err
			}
			return srv.Addr, nil
		},
		OnSession: func(open bool) {
			if !open {
				a.stats.Conn(time.Now(), 0, 0)
			}
		},
		OnBytes: func(in, out int) { a.stats.Bytes(time.Now(), int64(in), int64(out)) },
		OnDrop: func(reason string) {
			switch reason {
			case udpproxy.DropNoUpstream, udpproxy.DropDial, udpproxy.DropSend, udpproxy.DropPending:
			default: // full, or an access control reason
				a.stats.Refused()
			}
		},
	}
	if a.guard != nil {
		c.Admit = a.guard.Admit
	}
	return c
}

func (u *udpListener) serve() {
	if err := u.p.Serve(); err != nil {
		u.s.log.Error("stream: UDP listener failed", "listener", u.k.String(), "err", err)
	}
}

func (u *udpListener) update(a *app)  { u.p.Update(u.config(a)) }
func (u *udpListener) addr() net.Addr { return u.pc.LocalAddr() }
func (u *udpListener) close()         { u.p.Close() }
