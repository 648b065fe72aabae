package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/strata-edge/strata/node/proxy/upstream"
)

// tunnelFast proxies an Upgrade request (WebSocket) on the fast path: it
// connects to a server, sends the request, reads the response head and, on
// 101 Switching Protocols, hands both connections to a byte pipe once
// fasthttp has written the 101 to the client. Any other answer is relayed
// as a normal response.
func (p *Proxy) tunnelFast(ctx *fasthttp.RequestCtx, st *fastState, up *upstream.Upstream) *upstream.Server {
	// Connect failures are retried and counted as on every other path.
	var conn net.Conn
	s, err := attempt(&st.flow, &st.fastView, true, func(s *upstream.Server) (err error) {
		conn, err = s.DialTunnel(context.Background())
		return err
	})
	if err != nil {
		status, msg := upstreamFailure(up, s, err)
		fastText(ctx, status, msg)
		return s
	}

	t := up.Timeouts()
	fail := func(err error) *upstream.Server {
		conn.Close()
		if isTimeout(err) {
			s.ReportFailure()
		}
		ctx.Response.Reset()
		status, msg := upstreamFailure(up, s, err)
		fastText(ctx, status, msg)
		return s
	}
	_ = conn.SetWriteDeadline(time.Now().Add(t.Write))
	ctx.Request.URI().DisablePathNormalizing = true // send the path as received
	if _, err := ctx.Request.WriteTo(conn); err != nil {
		return fail(err)
	}
	_ = conn.SetWriteDeadline(time.Time{})
	_ = conn.SetReadDeadline(time.Now().Add(t.Read))
	br := bufio.NewReaderSize(conn, 4096)
	resp := &ctx.Response
	if err := resp.Header.Read(br); err != nil {
		return fail(err)
	}
	if resp.StatusCode() != fasthttp.StatusSwitchingProtocols {
		err := resp.ReadBody(br, p.opts.MaxRequestBodyBytes)
		conn.Close()
		if err != nil {
			return fail(err)
		}
		s.ReportSuccess()
		stripHopFastResp(&resp.Header)
		return s
	}
	_ = conn.SetReadDeadline(time.Time{})
	s.ReportSuccess()
	s.Begin()
	// fasthttp runs the hijack handler only if writing the 101 to the
	// client worked; otherwise nobody would close the upstream side.
	var once sync.Once
	finish := func() { once.Do(func() { conn.Close(); s.End() }) }
	orphan := time.AfterFunc(time.Minute, finish)
	ctx.Hijack(func(client net.Conn) {
		if !orphan.Stop() {
			client.Close()
			return
		}
		defer finish()
		pipe(client, conn, br)
	})
	return s
}

// pipe copies bytes both ways until either side ends, then closes both
// (WebSocket and most upgraded protocols have their own close handshake).
// upBuf holds bytes already read from up after the response head.
func pipe(client, up net.Conn, upBuf *bufio.Reader) {
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			client.Close()
			up.Close()
		})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(client, upBuf) // drains the buffer, then reads up
		closeBoth()
	}()
	_, _ = io.Copy(up, client)
	closeBoth()
	<-done
}
