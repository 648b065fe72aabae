package node

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/strata-edge/strata/pkg/natsauth"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// startLeaf writes the credentials file (mode 0600) and starts the embedded
// leaf server: no client port (the node connects in-process), no JetStream,
// one remote to the hub.
func (n *Node) startLeaf() (*server.Server, error) {
	remote := &server.RemoteLeafOpts{
		// nats-server's s2_auto picks "best" compression once the link's
		// RTT exceeds 100 ms, which costs the hub and the node CPU for
		// every delta; on a LAN (up to 10 ms) nothing is compressed, on
		// anything slower s2's fast mode is enough for config.
		Compression: server.CompressionOpts{
			Mode:          server.CompressionS2Auto,
			RTTThresholds: []time.Duration{10 * time.Millisecond, 50 * time.Millisecond},
		},
	}
	for _, raw := range n.opts.HubLeafURLs {
		u, _ := parseHubURL(raw) // validated in New
		remote.URLs = append(remote.URLs, u)
		if u.Scheme == "tls" || u.Scheme == "wss" {
			remote.TLS = true
		}
	}
	if remote.TLS && n.opts.TLSConfig != nil {
		remote.TLSConfig = n.opts.TLSConfig.Clone()
	}
	if c := n.opts.Credentials; c != nil {
		path := filepath.Join(n.opts.DataDir, CredentialsFile)
		if err := natsauth.WriteCredentials(path, c.JWT, c.Seed); err != nil {
			// A full disk must not keep a node that has credentials
			// stored from starting and serving its stored config.
			if _, serr := os.Stat(path); serr != nil {
				return nil, fmt.Errorf("node: write %s: %w", path, err)
			}
			n.log.Warn("could not write the new credentials; linking with the stored ones", "file", path, "err", err)
		}
		remote.Credentials = path
	}
	leaf, err := natsutil.StartServer(natsutil.ServerOptions{
		ServerName:  "node-" + n.opts.NodeID,
		DontListen:  true,
		NoJetStream: true,
		NoLog:       true,
		LeafRemotes: []*server.RemoteLeafOpts{remote},
	})
	if err != nil {
		return nil, fmt.Errorf("node: leaf server: %w", err)
	}
	leaf.SetLoggerV2(&natsLogger{log: n.opts.Logger.With("node", n.opts.NodeID, "component", "nats")}, false, false, false)
	return leaf, nil
}

// leafLinkID is the sync agent's Options.LinkID: the connection id of the
// leaf link to the hub, 0 while it is down.
func leafLinkID(s *server.Server) func() uint64 {
	return func() uint64 {
		lz, err := s.Leafz(nil)
		if err != nil {
			return 0
		}
		var id uint64
		for _, l := range lz.Leafs {
			id = max(id, l.ID)
		}
		return id
	}
}

// natsLogger sends the leaf server's log lines to slog.
type natsLogger struct{ log *slog.Logger }

func (l *natsLogger) Noticef(format string, v ...any) { l.log.Info(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Tracef(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }

var _ server.Logger = (*natsLogger)(nil)
