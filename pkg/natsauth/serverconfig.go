package natsauth

import (
	"fmt"
	"strings"
)

// ServerConfig is the nats-server configuration that makes an external hub
// (a nats-server process or cluster, not embedded) trust this Authority: the
// operator JWT, the system account and a memory resolver preloaded with the
// system and STRATA account JWTs (revocations included as of now). Include it
// from each server's own config; every server of a cluster gets the same.
//
// A memory resolver is read-only at run time: a node revoked later is
// refused by the hub only after this is written again and the servers
// reload (nats-server --signal reload).
func (a *Authority) ServerConfig() string {
	var b strings.Builder
	b.WriteString("# Written by \"strata nats-config\": this hub trusts Strata's NATS operator.\n")
	b.WriteString("# The JWTs are public (signed, not secret); the seeds stay in nats-auth/.\n")
	fmt.Fprintf(&b, "operator: %q\n", a.operatorJWT)
	fmt.Fprintf(&b, "system_account: %q\n", a.systemPub)
	b.WriteString("resolver: MEMORY\nresolver_preload: {\n")
	fmt.Fprintf(&b, "  %s: %q\n", a.systemPub, a.systemJWT)
	fmt.Fprintf(&b, "  %s: %q\n", a.accountPub, a.AccountJWT())
	b.WriteString("}\n")
	return b.String()
}
