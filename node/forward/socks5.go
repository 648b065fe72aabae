package forward

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// SOCKS5 constants (RFC 1928, RFC 1929).
const (
	socksVersion   = 0x05
	authVersion    = 0x01
	methodUserPass = 0x02
	methodNone     = 0xFF

	cmdConnect      = 0x01
	cmdBind         = 0x02
	cmdUDPAssociate = 0x03

	atypIPv4   = 0x01
	atypDomain = 0x03
	atypIPv6   = 0x04

	repSucceeded          = 0x00
	repGeneralFailure     = 0x01
	repNotAllowed         = 0x02
	repNetworkUnreachable = 0x03
	repHostUnreachable    = 0x04
	repConnRefused        = 0x05
	repTTLExpired         = 0x06
	repCmdNotSupported    = 0x07
	repAddrNotSupported   = 0x08
)

// socksError is a handshake failure, with the reply code to send (0: none,
// the connection is just closed).
type socksError struct {
	rep    byte
	result string
	msg    string
}

func (e *socksError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &socksError{rep: repGeneralFailure, result: resultBadRequest, msg: fmt.Sprintf(format, args...)}
}

// readGreeting reads the version/method-selection message and reports
// whether username/password (the only method offered) is among the
// client's methods.
func readGreeting(r io.Reader) (userPass bool, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return false, err
	}
	if h[0] != socksVersion {
		return false, &socksError{result: resultBadRequest, msg: fmt.Sprintf("greeting: version %d, want 5", h[0])}
	}
	if h[1] == 0 {
		return false, &socksError{result: resultBadRequest, msg: "greeting: no methods"}
	}
	var methods [255]byte
	if _, err := io.ReadFull(r, methods[:h[1]]); err != nil {
		return false, err
	}
	for _, m := range methods[:h[1]] {
		if m == methodUserPass {
			return true, nil
		}
	}
	return false, nil
}

// readAuth reads an RFC 1929 username/password request.
func readAuth(r io.Reader) (name, password string, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return "", "", err
	}
	if h[0] != authVersion {
		return "", "", &socksError{result: resultBadRequest, msg: fmt.Sprintf("auth: version %d, want 1", h[0])}
	}
	var buf [255]byte
	if h[1] == 0 {
		return "", "", &socksError{result: resultBadRequest, msg: "auth: empty username"}
	}
	if _, err := io.ReadFull(r, buf[:h[1]]); err != nil {
		return "", "", err
	}
	name = string(buf[:h[1]])
	var pl [1]byte
	if _, err := io.ReadFull(r, pl[:]); err != nil {
		return "", "", err
	}
	if _, err := io.ReadFull(r, buf[:pl[0]]); err != nil {
		return "", "", err
	}
	return name, string(buf[:pl[0]]), nil
}

// request is a SOCKS5 request: the command and its destination (a name
// or an address literal, and a port).
type request struct {
	cmd  byte
	host string
	port uint16
}

func (q request) dest() string { return net.JoinHostPort(q.host, strconv.Itoa(int(q.port))) }

// readRequest reads a request; a *socksError names the reply to send.
func readRequest(r io.Reader) (request, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return request{}, err
	}
	if h[0] != socksVersion {
		return request{}, badRequest("request: version %d, want 5", h[0])
	}
	q := request{cmd: h[1]}
	host, port, err := readAddr(r, h[3])
	if err != nil {
		return request{}, err
	}
	q.host, q.port = host, port
	switch q.cmd {
	case cmdConnect, cmdUDPAssociate:
	default:
		return q, &socksError{rep: repCmdNotSupported, result: resultUnsupported, msg: fmt.Sprintf("request: command %d not supported", q.cmd)}
	}
	return q, nil
}

// readAddr reads ATYP's address and a port.
func readAddr(r io.Reader, atyp byte) (string, uint16, error) {
	var buf [255 + 2]byte
	var host string
	switch atyp {
	case atypIPv4:
		if _, err := io.ReadFull(r, buf[:4+2]); err != nil {
			return "", 0, err
		}
		host = netip.AddrFrom4([4]byte(buf[:4])).String()
		return host, binary.BigEndian.Uint16(buf[4:6]), nil
	case atypIPv6:
		if _, err := io.ReadFull(r, buf[:16+2]); err != nil {
			return "", 0, err
		}
		host = netip.AddrFrom16([16]byte(buf[:16])).Unmap().String()
		return host, binary.BigEndian.Uint16(buf[16:18]), nil
	case atypDomain:
		var l [1]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return "", 0, err
		}
		if l[0] == 0 {
			return "", 0, badRequest("request: empty domain name")
		}
		n := int(l[0])
		if _, err := io.ReadFull(r, buf[:n+2]); err != nil {
			return "", 0, err
		}
		return string(buf[:n]), binary.BigEndian.Uint16(buf[n : n+2]), nil
	}
	return "", 0, &socksError{rep: repAddrNotSupported, result: resultUnsupported, msg: fmt.Sprintf("request: address type %d not supported", atyp)}
}

// appendAddr appends ATYP, address and port of ap.
func appendAddr(b []byte, ap netip.AddrPort) []byte {
	ip := ap.Addr().Unmap()
	if ip.Is4() {
		a := ip.As4()
		b = append(append(b, atypIPv4), a[:]...)
	} else if ip.Is6() {
		a := ip.As16()
		b = append(append(b, atypIPv6), a[:]...)
	} else {
		b = append(b, atypIPv4, 0, 0, 0, 0)
	}
	return binary.BigEndian.AppendUint16(b, ap.Port())
}

func writeReply(w io.Writer, rep byte, bound netip.AddrPort) error {
	b := appendAddr(make([]byte, 0, 22), bound)
	_, err := w.Write(append([]byte{socksVersion, rep, 0}, b...))
	return err
}

// repFor maps a resolve or dial error to a reply code.
func repFor(result string) byte {
	switch result {
	case resultRefused:
		return repNotAllowed
	case resultConnRefused:
		return repConnRefused
	case resultBadRequest:
		return repGeneralFailure
	}
	return repHostUnreachable
}

// serveSOCKS5 runs one SOCKS5 client connection with app a.
func (f *Forwarder) serveSOCKS5(c net.Conn, a *app) {
	client := addrPortOf(c.RemoteAddr())
	rec := f.newRecord(a, "socks5", client)
	defer rec.done()
	release, reason, ok := a.guard.Admit(client.Addr())
	if !ok {
		rec.result, rec.reason = resultDenied, reason
		return
	}
	defer release()
	_ = c.SetDeadline(time.Now().Add(HandshakeTimeout))
	br := bufio.NewReaderSize(c, 512)
	fail := func(err error) {
		var se *socksError
		if errors.As(err, &se) {
			rec.result, rec.reason = se.result, se.msg
			if se.rep != 0 {
				_ = writeReply(c, se.rep, netip.AddrPort{})
			}
			return
		}
		rec.result, rec.reason = resultBadRequest, err.Error()
	}
	userPass, err := readGreeting(br)
	if err != nil {
		fail(err)
		return
	}
	if !userPass {
		_, _ = c.Write([]byte{socksVersion, methodNone})
		rec.result, rec.reason = resultAuthFailed, "client offers no username/password method"
		return
	}
	if _, err := c.Write([]byte{socksVersion, methodUserPass}); err != nil {
		rec.reason = err.Error()
		return
	}
	name, password, err := readAuth(br)
	if err != nil {
		fail(err)
		return
	}
	rec.user = name
	u, err := f.authenticate(a, client.Addr(), name, password)
	if err != nil {
		_, _ = c.Write([]byte{authVersion, 0x01})
		rec.result, rec.reason = resultAuthFailed, err.Error()
		if errors.Is(err, errRateLimited) {
			rec.result = resultRateLimited
		}
		return
	}
	if _, err := c.Write([]byte{authVersion, 0x00}); err != nil {
		rec.reason = err.Error()
		return
	}
	q, err := readRequest(br)
	if q.host != "" {
		rec.dest = q.dest()
	}
	if err != nil {
		fail(err)
		return
	}
	if q.cmd == cmdUDPAssociate {
		rec.proto = "socks5-udp"
		f.udpAssociate(c, br, a, u, q, rec)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.connectTimeout)
	addrs, err := f.resolve(ctx, u.egress, q.host, q.port)
	if err == nil {
		var d net.Conn
		if d, err = f.dial(ctx, addrs, a.connectTimeout); err == nil {
			cancel()
			defer d.Close()
			if err := writeReply(c, repSucceeded, addrPortOf(d.LocalAddr())); err != nil {
				rec.reason = err.Error()
				return
			}
			_ = c.SetDeadline(time.Time{})
			// Bytes the client sent ahead of the reply are in br.
			if n := br.Buffered(); n > 0 {
				b, _ := br.Peek(n)
				if _, err := d.Write(b); err != nil {
					rec.reason = err.Error()
					return
				}
				rec.addIn(n)
			}
			rec.result = resultOK
			relay(c, d, a.idleTimeout, rec)
			return
		}
	}
	cancel()
	rec.result, rec.reason = classify(err), err.Error()
	_ = writeReply(c, repFor(rec.result), netip.AddrPort{})
}
