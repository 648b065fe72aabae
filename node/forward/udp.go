package forward

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"
)

// Limits of a UDP association.
const (
	maxUDPDests   = 256  // checked destinations remembered per association
	maxUDPRemotes = 1024 // addresses whose answers are relayed back
)

// parseUDPHeader parses a SOCKS5 UDP request header (RFC 1928 section 7)
// and returns the destination and the payload.
func parseUDPHeader(p []byte) (host string, port uint16, data []byte, err error) {
	if len(p) < 4 {
		return "", 0, nil, errors.New("udp: short header")
	}
	if p[0] != 0 || p[1] != 0 {
		return "", 0, nil, errors.New("udp: reserved bytes not zero")
	}
	if p[2] != 0 {
		return "", 0, nil, errors.New("udp: fragments are not supported")
	}
	r := bytes.NewReader(p[4:])
	host, port, err = readAddr(r, p[3])
	if err != nil {
		return "", 0, nil, err
	}
	return host, port, p[len(p)-r.Len():], nil
}

// udpAssociate runs a UDP ASSOCIATE: a UDP socket on the address the
// client reached the node at relays datagrams between the client's IP
// and destinations the egress policy admits, until the TCP control
// connection ends or nothing moved for the idle timeout.
func (f *Forwarder) udpAssociate(c net.Conn, br *bufio.Reader, a *app, u *user, q request, rec *record) {
	client := addrPortOf(c.RemoteAddr())
	local := addrPortOf(c.LocalAddr())
	pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local.Addr(), 0)))
	if err != nil {
		rec.result, rec.reason = resultError, err.Error()
		_ = writeReply(c, repGeneralFailure, netip.AddrPort{})
		return
	}
	defer pc.Close()
	if err := writeReply(c, repSucceeded, addrPortOf(pc.LocalAddr())); err != nil {
		rec.reason = err.Error()
		return
	}
	rec.result, rec.dest = resultOK, "udp"
	_ = c.SetDeadline(time.Time{})
	go func() { // the association lives as long as the control connection
		_, _ = io.Copy(io.Discard, br)
		_ = pc.Close()
	}()
	defer c.Close()

	clientIP := client.Addr().Unmap()
	var clientAddr netip.AddrPort // fixed by the first datagram from clientIP
	wantPort := q.port            // the client's announced source port, 0: unknown
	dests := map[string][]netip.AddrPort{}
	remotes := map[netip.AddrPort]bool{}
	buf := make([]byte, 65535)
	out := make([]byte, 0, 65535+22)
	var refusedOnce bool
	for {
		_ = pc.SetReadDeadline(time.Now().Add(a.idleTimeout))
		n, src, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) {
				rec.reason = err.Error()
			}
			return
		}
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		fromClient := false
		switch {
		case clientAddr.IsValid():
			fromClient = src == clientAddr
		case src.Addr() == clientIP && !remotes[src] && (wantPort == 0 || src.Port() == wantPort):
			clientAddr, fromClient = src, true
		}
		if fromClient {
			host, port, data, err := parseUDPHeader(buf[:n])
			if err != nil {
				continue
			}
			key := net.JoinHostPort(host, strconv.Itoa(int(port)))
			addrs, ok := dests[key]
			if !ok {
				ctx, cancel := context.WithTimeout(context.Background(), a.connectTimeout)
				addrs, err = f.resolve(ctx, u.egress, host, port)
				cancel()
				if err != nil {
					if !refusedOnce {
						refusedOnce = true
						rec.reason = fmt.Sprintf("datagram to %s dropped: %v", key, err)
					}
					continue // not remembered: a refusal may be a DNS failure
				}
				if len(dests) >= maxUDPDests {
					clear(dests)
				}
				dests[key] = addrs
				if rec.dest == "udp" {
					rec.dest = key
				}
			}
			to := addrs[0]
			if len(remotes) >= maxUDPRemotes {
				clear(remotes)
			}
			remotes[to] = true
			if _, err := pc.WriteToUDPAddrPort(data, to); err == nil {
				rec.addIn(len(data))
			}
			continue
		}
		if !remotes[src] || !clientAddr.IsValid() {
			continue // only answers of destinations the client sent to
		}
		out = appendAddr(append(out[:0], 0, 0, 0), src)
		out = append(out, buf[:n]...)
		if _, err := pc.WriteToUDPAddrPort(out, clientAddr); err == nil {
			rec.addOut(n)
		}
	}
}
