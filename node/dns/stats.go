package dns

import "sync/atomic"

// Transports, the indexes of Stats' arrays.
const (
	UDP = iota
	TCP
	transports
)

// TransportNames are the label values of the transports, by index.
var TransportNames = [transports]string{"udp", "tcp"}

// Counters count the queries a server received and the responses it sent,
// by transport and response code. The UDP loop counts a whole batch at
// once; nothing is locked. A node hands the same Counters to every server
// it builds (Options.Counters), so the counts outlive a listener restart.
type Counters struct {
	queries   [transports]atomic.Uint64
	responses [transports][16]atomic.Uint64
}

// Stats are counter values.
type Stats struct {
	// Queries counts datagrams and TCP messages received; those without a
	// response (malformed beyond a header, or responses themselves) are
	// Queries minus the sum of Responses.
	Queries [transports]uint64
	// Responses counts responses by RCODE (the header's 4 bits: 0 NOERROR,
	// 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED, ...).
	Responses [transports][16]uint64
}

// Stats returns the counter values.
func (c *Counters) Stats() Stats {
	var s Stats
	for t := range c.queries {
		s.Queries[t] = c.queries[t].Load()
		for r := range c.responses[t] {
			s.Responses[t][r] = c.responses[t][r].Load()
		}
	}
	return s
}

// addBatch counts one UDP batch: got datagrams, rc responses by rcode.
func (c *Counters) addBatch(got int, rc *[16]uint32) {
	c.queries[UDP].Add(uint64(got))
	for i, n := range rc {
		if n > 0 {
			c.responses[UDP][i].Add(uint64(n))
		}
	}
}

// Counters returns the server's counters (Options.Counters when set).
func (s *Server) Counters() *Counters { return s.counts }
