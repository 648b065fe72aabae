package natsutil

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// readyTimeout bounds how long StartServer waits for the server to accept
// connections.
const readyTimeout = 10 * time.Second

// ServerOptions configures an embedded nats-server. The zero value is not
// usable: StoreDir is required unless NoJetStream is set.
type ServerOptions struct {
	// Host is the client listen address; empty means 127.0.0.1, never all
	// interfaces by accident.
	Host string
	// Port is the client port: -1 picks a free port, 0 means NATS's default
	// (4222).
	Port int
	// DontListen opens no client port at all; connect with ConnectInProcess.
	DontListen bool
	// ServerName names the server in cluster, leaf and JetStream metadata.
	ServerName string

	// NoJetStream runs a plain NATS server (e.g. a node's leaf server).
	NoJetStream bool
	// StoreDir is where JetStream keeps its files. Required with JetStream.
	StoreDir string
	// JetStreamDomain is the JetStream domain; empty means HubDomain.
	JetStreamDomain string
	// SyncAlways makes JetStream fsync every write before it acknowledges it.
	// It costs about 0.3 ms per write on an SSD (measured, see
	// docs/eventstore.md); without it JetStream fsyncs every 2 minutes and a
	// power loss or kernel crash can lose the writes of that window, even
	// though they were acknowledged. The event store wants it on.
	SyncAlways bool

	// LeafPort is the port accepting leaf-node connections: 0 opens no leaf
	// listener, -1 picks a free port.
	LeafPort int
	// LeafRemotes are leaf-node links this server dials (an edge node's link
	// to the hub).
	LeafRemotes []*server.RemoteLeafOpts

	// NoLog silences the server's own logging.
	NoLog bool
	// Configure, when set, may change the derived server.Options last, for
	// settings this struct does not name (TLS, accounts, limits).
	Configure func(*server.Options)
}

// serverOptions translates ServerOptions into nats-server options.
func (o ServerOptions) serverOptions() (*server.Options, error) {
	if !o.NoJetStream && o.StoreDir == "" {
		return nil, errors.New("natsutil: ServerOptions.StoreDir: required when JetStream is on")
	}
	host := o.Host
	if host == "" {
		host = "127.0.0.1"
	}
	opts := &server.Options{
		ServerName: o.ServerName,
		Host:       host,
		Port:       o.Port,
		DontListen: o.DontListen,
		NoLog:      o.NoLog,
		NoSigs:     true,
		// A random port for HTTP monitoring is never opened unless asked for.
		HTTPPort: 0,
	}
	if !o.NoJetStream {
		opts.JetStream = true
		opts.StoreDir = o.StoreDir
		opts.JetStreamDomain = o.JetStreamDomain
		if opts.JetStreamDomain == "" {
			opts.JetStreamDomain = HubDomain
		}
		opts.SyncAlways = o.SyncAlways
	}
	if o.LeafPort != 0 {
		opts.LeafNode.Host = host
		opts.LeafNode.Port = o.LeafPort
	}
	opts.LeafNode.Remotes = o.LeafRemotes
	if o.Configure != nil {
		o.Configure(opts)
	}
	return opts, nil
}

// StartServer starts an embedded nats-server and waits until it accepts
// connections (and, with JetStream, until JetStream is enabled). On failure
// the server is shut down and a descriptive error returned.
func StartServer(o ServerOptions) (*server.Server, error) {
	opts, err := o.serverOptions()
	if err != nil {
		return nil, err
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsutil: configure nats-server: %w", err)
	}
	if !o.NoLog {
		s.ConfigureLogger()
	}
	go s.Start()
	if !s.ReadyForConnections(readyTimeout) {
		s.Shutdown()
		return nil, fmt.Errorf("natsutil: nats-server not ready for connections after %s", readyTimeout)
	}
	if !o.NoJetStream && !s.JetStreamEnabled() {
		s.Shutdown()
		return nil, fmt.Errorf("natsutil: nats-server started without JetStream (store dir %q)", o.StoreDir)
	}
	return s, nil
}

// ConnectInProcess connects to s without a socket (nats.InProcessServer), the
// fastest path for a client living in the same process as its server. It
// works with DontListen.
func ConnectInProcess(s *server.Server, opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.InProcessServer(s)}, opts...)
	nc, err := nats.Connect("", opts...)
	if err != nil {
		return nil, fmt.Errorf("natsutil: connect in-process: %w", err)
	}
	return nc, nil
}

// LeafURL returns the nats-leaf:// URL on which s accepts leaf-node links
// (useful with LeafPort -1), or an error when it has no leaf listener.
func LeafURL(s *server.Server) (string, error) {
	v, err := s.Varz(nil)
	if err != nil {
		return "", fmt.Errorf("natsutil: server info: %w", err)
	}
	if v.LeafNode.Port <= 0 {
		return "", errors.New("natsutil: server has no leaf-node listener")
	}
	return fmt.Sprintf("nats-leaf://%s", net.JoinHostPort(v.LeafNode.Host, strconv.Itoa(v.LeafNode.Port))), nil
}
