package forward

import (
	"crypto/sha256"
	"fmt"
	"sync"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/netguard"
	"github.com/strata-edge/strata/pkg/passhash"
)

// config is one compiled snapshot: the app behind every open port.
type config struct {
	version uint64
	apps    map[listenerKey]*app
}

// app is one compiled ForwardProxyApp. It is immutable but for its
// verification cache and lazily built transports.
type app struct {
	id, name       string
	users          map[string]*user
	egress         *policy
	guard          *netguard.Guard
	connectTimeout time.Duration
	idleTimeout    time.Duration

	cacheMu sync.Mutex
	cache   map[[sha256.Size]byte]*user // successful verifications
}

// user is one credential of an app.
type user struct {
	name   string
	hash   string
	egress *policy // the app's when the credential has none

	transportOnce sync.Once
	transport     *httpUpstream
}

// Limits of a compiled config.
const (
	maxVerifyCache = 4096
	maxUsername    = 255 // RFC 1929 bounds both to one length byte
	maxPassword    = 255
)

// compile builds the config of snap from its forward-proxy apps fwd (in
// snapshot order); an app of prev with the same id hands its
// access-control table to the new one (netguard.Carry), so open
// connections keep counting.
func compile(snap *syncv1.Snapshot, fwd []*configv1.App, prev *config) (*config, error) {
	prevGuards := map[string]*netguard.Guard{}
	if prev != nil {
		for _, a := range prev.apps {
			prevGuards[a.id] = a.guard
		}
	}
	c := &config{version: snap.GetVersion(), apps: map[listenerKey]*app{}}
	owner := map[listenerKey]string{}
	for _, a := range fwd {
		fp := a.GetForwardProxy()
		ca, err := compileApp(a, fp)
		if err != nil {
			return nil, fmt.Errorf("app %q: %w", a.GetId(), err)
		}
		ca.guard.Carry(prevGuards[ca.id])
		add := func(k kind, field string, ports []uint32) error {
			for i, p := range ports {
				if p == 0 || p > 65535 {
					return fmt.Errorf("app %q: forward_proxy.%s[%d]: port %d out of 1-65535", a.GetId(), field, i, p)
				}
				key := listenerKey{k, p}
				if prev, ok := owner[key]; ok {
					return fmt.Errorf("app %q: forward_proxy.%s[%d]: port %d already taken by app %q", a.GetId(), field, i, p, prev)
				}
				for _, other := range []kind{kindSOCKS5, kindHTTP} {
					if prev, ok := owner[listenerKey{other, p}]; ok && other != k {
						return fmt.Errorf("app %q: forward_proxy.%s[%d]: port %d already taken by app %q", a.GetId(), field, i, p, prev)
					}
				}
				owner[key] = a.GetId()
				c.apps[key] = ca
			}
			return nil
		}
		if err := add(kindSOCKS5, "socks5_ports", fp.GetSocks5Ports()); err != nil {
			return nil, err
		}
		if err := add(kindHTTP, "http_ports", fp.GetHttpPorts()); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func compileApp(a *configv1.App, fp *configv1.ForwardProxyApp) (*app, error) {
	eg, err := compilePolicy(fp.GetEgress())
	if err != nil {
		return nil, fmt.Errorf("forward_proxy.egress: %w", err)
	}
	g, err := netguard.New(fp.GetAccess())
	if err != nil {
		return nil, fmt.Errorf("forward_proxy: %w", err)
	}
	ca := &app{
		id: a.GetId(), name: a.GetName(),
		users:          map[string]*user{},
		egress:         eg,
		guard:          g,
		connectTimeout: DefaultConnectTimeout,
		idleTimeout:    DefaultIdleTimeout,
		cache:          map[[sha256.Size]byte]*user{},
	}
	if ms := fp.GetConnectTimeoutMs(); ms > 0 {
		ca.connectTimeout = time.Duration(ms) * time.Millisecond
	}
	if ms := fp.GetIdleTimeoutMs(); ms > 0 {
		ca.idleTimeout = time.Duration(ms) * time.Millisecond
	}
	for i, cr := range fp.GetCredentials() {
		name := cr.GetUsername()
		if name == "" || len(name) > maxUsername {
			return nil, fmt.Errorf("forward_proxy.credentials[%d].username: 1 to %d bytes", i, maxUsername)
		}
		if _, dup := ca.users[name]; dup {
			return nil, fmt.Errorf("forward_proxy.credentials[%d].username %q: duplicate", i, name)
		}
		if _, _, _, err := passhash.Parse(cr.GetPasswordHash()); err != nil {
			return nil, fmt.Errorf("forward_proxy.credentials[%d].password_hash: %w", i, err)
		}
		u := &user{name: name, hash: cr.GetPasswordHash(), egress: eg}
		if cr.GetEgress() != nil {
			if u.egress, err = compilePolicy(cr.GetEgress()); err != nil {
				return nil, fmt.Errorf("forward_proxy.credentials[%d].egress: %w", i, err)
			}
		}
		ca.users[name] = u
	}
	return ca, nil
}
