package node

import (
	"context"
	"log/slog"
	"net"
	gosync "sync"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/dns"
)

// dnsStopTimeout bounds how long closing the listeners waits for TCP
// connections in flight when the cluster turns DNS off.
const dnsStopTimeout = 5 * time.Second

// dnsRunner runs the node's authoritative DNS server while the node's own
// cluster lets it answer (Cluster.dns_disabled, applied from every
// snapshot, the stored one at start included): turning DNS off closes the
// listeners, freeing the ports; turning it on opens them again on the same
// addresses. While off, zones and gateway sets are still compiled into a
// server that is not listening, so a snapshot with a zone the node cannot
// serve is rejected on every node alike, and turning DNS on serves the
// current zones at once.
type dnsRunner struct {
	opts      dns.Options
	clusterID string
	log       *slog.Logger

	mu       gosync.Mutex
	srv      *dns.Server // never nil; listening iff serving
	serving  bool
	open     bool // Node.Start has reached the listeners: apply may open them
	off      bool // the newest snapshot turns DNS off for the node's cluster
	snap     *syncv1.Snapshot
	gateways map[string]dns.Gateway
	lastErr  error // why the listeners could not open (nil when fine)
}

func newDNSRunner(opts dns.Options, clusterID string, log *slog.Logger) (*dnsRunner, error) {
	if opts.Counters == nil {
		opts.Counters = new(dns.Counters) // shared by every server replace builds
	}
	srv, err := dns.New(opts)
	if err != nil {
		return nil, err
	}
	return &dnsRunner{opts: opts, clusterID: clusterID, log: log, srv: srv}, nil
}

// dnsOff reports whether snap turns DNS off for cluster id.
func dnsOff(snap *syncv1.Snapshot, id string) bool {
	for _, c := range snap.GetClusters() {
		if c.GetId() == id {
			return c.GetDnsDisabled()
		}
	}
	return false
}

// prepare compiles snap's zones; commit serves them and opens or closes the
// listeners as snap's cluster settings say. Calls come one at a time (the
// sync agent's Apply).
func (r *dnsRunner) prepare(snap *syncv1.Snapshot) (commit func(), err error) {
	r.mu.Lock()
	srv := r.srv
	r.mu.Unlock()
	swap, err := srv.Prepare(snap)
	if err != nil {
		return nil, err
	}
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.srv == srv {
			swap()
		} else if err := r.srv.Update(snap); err != nil { // replaced meanwhile (start failed to listen)
			r.log.Error("dns: zones not applied", "version", snap.GetVersion(), "err", err)
		}
		r.snap = snap
		off := dnsOff(snap, r.clusterID)
		if off != r.off {
			r.log.Info("dns: cluster setting changed", "cluster", r.clusterID, "dns", onOff(!off), "version", snap.GetVersion())
		}
		r.off = off
		r.reconcile()
	}, nil
}

// start lets the runner open its listeners (Node.Start, after the stored
// snapshot was applied) and opens them unless DNS is off. The first start
// error is returned: the node's DNS address is taken.
func (r *dnsRunner) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.open = true
	r.reconcile()
	return r.lastErr
}

// reconcile opens or closes the listeners to match r.off. Called with r.mu
// held.
func (r *dnsRunner) reconcile() {
	switch {
	case !r.open:
	case !r.off && !r.serving:
		if err := r.srv.Start(context.Background()); err != nil {
			if r.lastErr == nil || r.lastErr.Error() != err.Error() {
				r.log.Error("dns: cannot open the listeners; retried with the next config", "err", err)
			}
			r.lastErr = err
			r.replace() // a failed Start leaves the server stopped
			return
		}
		r.lastErr = nil
		r.serving = true
		// Later listeners reuse the bound ports (Options may say port 0).
		if a := r.srv.UDPAddr(); a != nil && r.opts.UDPAddr != "" {
			r.opts.UDPAddr = a.String()
		}
		if a := r.srv.TCPAddr(); a != nil && r.opts.TCPAddr != "" {
			r.opts.TCPAddr = a.String()
		}
		r.log.Info("dns: answering", "udp", r.srv.UDPAddr(), "tcp", r.srv.TCPAddr(), "cluster", r.clusterID)
	case r.off && r.serving:
		ctx, cancel := context.WithTimeout(context.Background(), dnsStopTimeout)
		err := r.srv.Stop(ctx)
		cancel()
		r.serving = false
		r.replace()
		r.log.Info("dns: turned off for this cluster; listeners closed", "cluster", r.clusterID, "stop_err", err)
	}
}

// replace puts a fresh server, not listening, with the current zones and
// gateway sets in place of the stopped one (a dns.Server starts once).
// Called with r.mu held.
func (r *dnsRunner) replace() {
	srv, err := dns.New(r.opts)
	if err == nil && r.gateways != nil {
		err = srv.SetGateways(r.gateways)
	}
	if err == nil && r.snap != nil {
		err = srv.Update(r.snap)
	}
	if err != nil {
		// Options were valid when the node started; on an error keep the
		// old server: Start is retried on it.
		r.log.Error("dns: rebuild server", "err", err)
		return
	}
	r.srv = srv
}

// setGateways applies the live gateway sets (gatewayFeed).
func (r *dnsRunner) setGateways(gw map[string]dns.Gateway) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gateways = gw
	return r.srv.SetGateways(gw)
}

// addr is the bound UDP address while answering, else nil.
func (r *dnsRunner) addr() net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.serving {
		return nil
	}
	return r.srv.UDPAddr()
}

// state is what the runner does now.
func (r *dnsRunner) state() DNSState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return DNSState{Configured: true, Answering: r.serving, ClusterOff: r.off, Err: r.lastErr}
}

// counters are the DNS counters of every server the runner built.
func (r *dnsRunner) counters() *dns.Counters { return r.opts.Counters }

// stop closes the listeners and the server for good (Node.Stop).
func (r *dnsRunner) stop(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.open = false
	r.serving = false
	return r.srv.Stop(ctx)
}

// reportDNS puts the DNS state into a heartbeat (sync Options.Status).
func (n *Node) reportDNS(st *syncv1.NodeStatus) {
	st.Dns = configv1.NodeDnsState_NODE_DNS_STATE_NONE
	if n.dns == nil {
		return
	}
	switch s := n.dns.state(); {
	case s.Answering:
		st.Dns = configv1.NodeDnsState_NODE_DNS_STATE_ANSWERING
	case s.ClusterOff:
		st.Dns = configv1.NodeDnsState_NODE_DNS_STATE_OFF
	case s.Err != nil:
		st.Dns = configv1.NodeDnsState_NODE_DNS_STATE_FAILED
	default: // before Start opened the listeners
		st.Dns = configv1.NodeDnsState_NODE_DNS_STATE_UNSPECIFIED
	}
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// DNSAddr returns the DNS server's bound address ("" without DNS, before
// Start, or while the node's cluster has DNS turned off).
func (n *Node) DNSAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.dns == nil {
		return ""
	}
	if a := n.dns.addr(); a != nil {
		return a.String()
	}
	return ""
}

// DNSState is what the node's DNS server does.
type DNSState struct {
	// Configured: the node has a DNS address (Options.DNSAddr).
	Configured bool
	// Answering: its listeners are open.
	Answering bool
	// ClusterOff: the node's cluster turned DNS off (Cluster.dns_disabled).
	ClusterOff bool
	// Err is why the listeners could not open (nil when fine).
	Err error
}

// DNS reports the state of the node's DNS server.
func (n *Node) DNS() DNSState {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.dns == nil {
		return DNSState{}
	}
	return n.dns.state()
}
