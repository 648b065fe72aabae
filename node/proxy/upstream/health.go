package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
)

// checkLoop probes every server of the upstream each interval until ctx ends.
// One goroutine per upstream; the probes of one round run in parallel so a
// slow server does not delay the verdict on the others.
func (u *Upstream) checkLoop(ctx context.Context) {
	defer close(u.done)
	hc := u.health
	tr := &http.Transport{
		// A probe opens its own connection: connecting is part of the check.
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			for _, s := range u.servers {
				if s.Addr == addr {
					return dial(ctx, addr, hc.timeout, s.tlsConf, 0, 0, false)
				}
			}
			return nil, &DialError{Addr: addr, Err: errors.New("not a server of this upstream")}
		},
		ResponseHeaderTimeout: hc.timeout,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport: tr,
		Timeout:   hc.timeout,
		// A redirect is an answer: judge its status, do not follow it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	state := make([]probeState, len(u.servers))
	t := time.NewTicker(hc.interval)
	defer t.Stop()
	for {
		var wg sync.WaitGroup
		for i, s := range u.servers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				state[i].record(s, u.probe(ctx, client, s), hc)
			}()
		}
		wg.Wait()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// probeState counts consecutive probe results of one server.
type probeState struct{ ok, failed int }

func (p *probeState) record(s *Server, fail error, hc healthConfig) {
	if fail == nil {
		p.ok++
		p.failed = 0
		if s.down.Load() && p.ok >= hc.healthyThreshold {
			s.down.Store(false)
			s.ReportSuccess() // a server back from the dead starts with a clean slate
			s.noteHealth("")
		}
		return
	}
	p.failed++
	p.ok = 0
	if !s.down.Load() && p.failed >= hc.unhealthyThreshold {
		s.noteHealth("active check: " + fail.Error())
		s.down.Store(true)
	}
}

// probe checks s once: nil when it is healthy, else why not.
func (u *Upstream) probe(ctx context.Context, client *http.Client, s *Server) error {
	if u.tcpProbe {
		d := net.Dialer{Timeout: u.health.timeout}
		c, err := d.DialContext(ctx, "tcp", s.Addr)
		if err != nil {
			return fmt.Errorf("tcp connect: %w", err)
		}
		return c.Close()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.Addr+u.health.path, nil)
	if err != nil {
		return err
	}
	if u.health.host != "" {
		req.Host = u.health.host
	}
	req.Header.Set("User-Agent", "strata-health-check")
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // not the URL again
		}
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if len(u.health.expected) == 0 {
		if resp.StatusCode >= 200 && resp.StatusCode < 400 {
			return nil
		}
		return fmt.Errorf("GET %s: status %d", u.health.path, resp.StatusCode)
	}
	for _, st := range u.health.expected {
		if resp.StatusCode == st {
			return nil
		}
	}
	return fmt.Errorf("GET %s: status %d, want one of %v", u.health.path, resp.StatusCode, u.health.expected)
}

// AppendHealth appends what the health checks (active and passive) say of
// every server of ups, now.
func AppendHealth(out []*metricsv1.ServerHealth, ups []*Upstream) []*metricsv1.ServerHealth {
	for _, u := range ups {
		for _, s := range u.Servers() {
			ok, reason, since := s.Health()
			h := &metricsv1.ServerHealth{AppId: u.AppID, Upstream: u.Name, Server: s.Addr, Healthy: ok, Reason: reason}
			if !since.IsZero() {
				h.SinceUnix = since.Unix()
			}
			out = append(out, h)
		}
	}
	return out
}
