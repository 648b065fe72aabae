// Command streamload is the load side of scripts/bench-stream.sh: a TCP
// echo upstream, and bounded load generators for connections per second
// through a TCP proxy or a SOCKS5 proxy. It prints one line of results.
//
//	streamload -mode echo -listen 127.0.0.1:PORT
//	streamload -mode connect -addr PROXY -d 5s -c 32
//	streamload -mode socks5 -addr SOCKS -target ECHO -user U -pass P -d 5s -c 32
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	mode := flag.String("mode", "", "echo | connect | socks5")
	listen := flag.String("listen", "127.0.0.1:0", "echo: listen address")
	addr := flag.String("addr", "", "connect/socks5: the proxy's address")
	target := flag.String("target", "", "socks5: host:port the proxy connects to")
	user := flag.String("user", "", "socks5: user name")
	pass := flag.String("pass", "", "socks5: password")
	dur := flag.Duration("d", 5*time.Second, "load duration")
	conns := flag.Int("c", 32, "concurrent clients")
	flag.Parse()
	switch *mode {
	case "echo":
		echo(*listen)
	case "connect", "socks5":
		if *addr == "" {
			log.Fatal("-addr is required")
		}
		dial := func() (net.Conn, error) { return net.DialTimeout("tcp", *addr, 2*time.Second) }
		if *mode == "socks5" {
			host, portStr, err := net.SplitHostPort(*target)
			port, perr := strconv.Atoi(portStr)
			if err != nil || perr != nil {
				log.Fatal("-target must be host:port")
			}
			dial = func() (net.Conn, error) { return socksDial(*addr, host, port, *user, *pass) }
		}
		load(*mode, dial, *dur, *conns)
	default:
		log.Fatal("-mode must be echo, connect or socks5")
	}
}

// echo serves TCP echo: every byte read is written back.
func echo(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("listening", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
	}
}

// load runs c clients for d, each in a loop: connect, write one byte, read
// it back, close. It prints the rate of completed round trips and latency
// percentiles of one whole connection.
func load(name string, dial func() (net.Conn, error), d time.Duration, c int) {
	var (
		ok, failed atomic.Int64
		mu         sync.Mutex
		lat        []time.Duration
		wg         sync.WaitGroup
	)
	deadline := time.Now().Add(d)
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			buf := make([]byte, 1)
			for time.Now().Before(deadline) {
				start := time.Now()
				if err := roundTrip(dial, buf); err != nil {
					failed.Add(1)
					continue
				}
				ok.Add(1)
				mine = append(mine, time.Since(start))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))]
	}
	fmt.Printf("%s conns_per_s=%.0f ok=%d failed=%d p50_us=%d p99_us=%d\n", name,
		float64(ok.Load())/d.Seconds(), ok.Load(), failed.Load(), pct(0.5).Microseconds(), pct(0.99).Microseconds())
	if ok.Load() == 0 {
		os.Exit(1)
	}
}

func roundTrip(dial func() (net.Conn, error), buf []byte) error {
	conn, err := dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	buf[0] = 'x'
	if _, err := conn.Write(buf); err != nil {
		return err
	}
	if _, err := io.ReadFull(conn, buf); err != nil {
		return err
	}
	if buf[0] != 'x' {
		return errors.New("echo: wrong byte")
	}
	return nil
}

// socksDial connects through a SOCKS5 proxy with username/password
// authentication (RFC 1928, RFC 1929) and CONNECT to host:port.
func socksDial(proxy, host string, port int, user, pass string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", proxy, 2*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	fail := func(err error) (net.Conn, error) { c.Close(); return nil, err }
	if _, err := c.Write([]byte{5, 1, 2}); err != nil {
		return fail(err)
	}
	resp := make([]byte, 2)
	if _, err := io.ReadFull(c, resp); err != nil || resp[1] != 2 {
		return fail(fmt.Errorf("socks5: method %v %v", resp, err))
	}
	auth := append([]byte{1, byte(len(user))}, user...)
	auth = append(append(auth, byte(len(pass))), pass...)
	if _, err := c.Write(auth); err != nil {
		return fail(err)
	}
	if _, err := io.ReadFull(c, resp); err != nil || resp[1] != 0 {
		return fail(fmt.Errorf("socks5: auth %v %v", resp, err))
	}
	req := []byte{5, 1, 0}
	if ip := net.ParseIP(host).To4(); ip != nil {
		req = append(append(req, 1), ip...)
	} else {
		req = append(append(req, 3, byte(len(host))), host...)
	}
	req = append(req, byte(port>>8), byte(port))
	if _, err := c.Write(req); err != nil {
		return fail(err)
	}
	head := make([]byte, 4)
	if _, err := io.ReadFull(c, head); err != nil || head[1] != 0 {
		return fail(fmt.Errorf("socks5: connect %v %v", head, err))
	}
	var skip int
	switch head[3] {
	case 1:
		skip = 4 + 2
	case 4:
		skip = 16 + 2
	case 3:
		l := make([]byte, 1)
		if _, err := io.ReadFull(c, l); err != nil {
			return fail(err)
		}
		skip = int(l[0]) + 2
	default:
		return fail(fmt.Errorf("socks5: address type %d", head[3]))
	}
	if _, err := io.ReadFull(c, make([]byte, skip)); err != nil {
		return fail(err)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}
