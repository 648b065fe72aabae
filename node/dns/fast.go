package dns

// The fast path answers the common UDP query from prepared wire replies:
// parse the question in place, look up lower-case name + type, copy the reply,
// patch id, RD/CD, the client's spelling of the name and an OPT record. Anything
// unusual returns 0 and takes the slow path (miekg/dns and the handler chain).

const (
	optLen   = 11 // root name, type, class, ttl, rdlen
	typeOPT  = 41
	typeANY  = 255
	typeAXFR = 252
	typeIXFR = 251
	// keySize is the scratch a lookup key needs: a wire name (at most 255
	// bytes) and the type.
	keySize = 260
)

// fastReply writes the reply to query in into out (at least 1232+optLen
// bytes) using key (at least keySize bytes) as scratch. It returns the reply
// length, or 0 when the slow path must answer.
func (t *table) fastReply(out, in, key []byte) int {
	if isChallengeQuery(in) { // DNS-01 values change between snapshots: challenge.go
		return 0
	}
	if len(in) < 12+5 || in[2]&0xF8 != 0 || // QR=0, opcode QUERY
		in[4] != 0 || in[5] != 1 || in[6]|in[7]|in[8]|in[9] != 0 || in[10] != 0 || in[11] > 1 {
		return 0
	}
	off, k := 12, 0
	for {
		if off >= len(in) {
			return 0
		}
		l := int(in[off])
		if l == 0 {
			key[k] = 0
			k++
			off++
			break
		}
		if l > 63 || off+1+l > len(in) || k+1+l > 254 {
			return 0
		}
		key[k] = byte(l)
		for i := 1; i <= l; i++ {
			c := in[off+i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			key[k+i] = c
		}
		k += 1 + l
		off += 1 + l
	}
	if off+4 > len(in) || in[off+2] != 0 || in[off+3] != 1 { // class IN
		return 0
	}
	qt := uint16(in[off])<<8 | uint16(in[off+1])
	if qt == 0 || qt == typeANY || qt == typeAXFR || qt == typeIXFR || qt == typeOPT {
		return 0
	}
	qend := off + 4
	limit, edns, do := 512, false, false
	var ecs []byte // the query's client subnet option, when it has one
	if in[11] == 1 {
		p := qend
		if len(in) < p+optLen || in[p] != 0 || in[p+1] != 0 || in[p+2] != typeOPT ||
			in[p+6] != 0 || len(in) != p+optLen+(int(in[p+9])<<8|int(in[p+10])) { // version 0
			return 0
		}
		if len(in) > p+optLen {
			if ecs = in[p+optLen:]; !fastECS(ecs) {
				return 0
			}
		}
		edns, do = true, in[p+7]&0x80 != 0
		limit = max(512, min(int(in[p+3])<<8|int(in[p+4]), maxUDPSize))
	} else if len(in) != qend {
		return 0
	}
	opt := 0 // bytes the OPT record adds
	if edns {
		opt = optLen
		if ecs != nil {
			opt += ecsEchoLen(ecs)
		}
	}
	key[k], key[k+1] = in[off], in[off+1]
	wire, ok := t.fast[string(key[:k+2])]
	if !ok {
		key[k], key[k+1] = 0, 0
		wire, ok = t.fast[string(key[:k+2])]
	}
	var n int
	switch {
	case ok && wire == nil:
		return 0
	case ok:
		if len(wire)+opt > limit {
			return 0
		}
		n = copy(out, wire)
		copy(out[12:qend], in[12:qend])
	default:
		fz := t.zoneOfKey(key[:k])
		if fz != nil && !fz.simple {
			return 0
		}
		out[2], out[3] = 0x80, 0x05 // REFUSED
		ns := byte(0)
		if fz != nil {
			out[2], out[3], ns = 0x84, 0x03, 1 // AA, NXDOMAIN
		} else if ecs != nil {
			return 0 // the chain's REFUSED does not echo the subnet
		}
		out[4], out[5], out[6], out[7], out[8], out[9], out[10], out[11] = 0, 1, 0, 0, 0, ns, 0, 0
		n = 12 + copy(out[12:], in[12:qend])
		if fz != nil {
			if n+len(fz.soa)+opt > limit {
				return 0
			}
			soa := out[n : n+copy(out[n:], fz.soa)]
			shift := k - fz.originLen // the name's bytes before the origin
			for _, p := range fz.ptrs {
				to := int(soa[p]&0x3F)<<8 | int(soa[p+1]) + shift
				soa[p], soa[p+1] = 0xC0|byte(to>>8), byte(to)
			}
			n += len(soa)
		}
	}
	out[0], out[1] = in[0], in[1]
	out[2] = out[2]&^0x01 | in[2]&0x01 // RD
	out[3] = out[3]&^0x10 | in[3]&0x10 // CD
	if edns {
		o := out[n : n+optLen]
		o[0], o[1], o[2] = 0, 0, typeOPT
		o[3], o[4] = byte(maxUDPSize>>8), byte(maxUDPSize&0xff)
		o[5], o[6], o[7], o[8], o[9], o[10] = 0, 0, 0, 0, 0, 0
		if do {
			o[7] = 0x80
		}
		n += optLen
		if ecs != nil {
			e := writeECSEcho(out[n:], ecs)
			o[9], o[10] = byte(e>>8), byte(e)
			n += e
		}
		ar := uint16(out[10])<<8 | uint16(out[11]) + 1
		out[10], out[11] = byte(ar>>8), byte(ar)
	}
	return n
}

// zoneOfKey finds the served zone of a lower-case wire name.
func (t *table) zoneOfKey(name []byte) *fastZone {
	for i := 0; i < len(name); {
		if fz := t.fastZones[string(name[i:])]; fz != nil {
			return fz
		}
		if name[i] == 0 {
			return nil
		}
		i += int(name[i]) + 1
	}
	return nil
}

// fastECS reports whether opt, the options of a query's OPT record, is one
// EDNS Client Subnet option (RFC 7871) that miekg/dns parses and the edns
// handler accepts: family 1 or 2, a source prefix that fits it, scope 0 and
// no more address bytes than the family has. Anything else takes the slow
// path, which also replies FORMERR to the malformed ones.
func fastECS(opt []byte) bool {
	if len(opt) < 8 || opt[0] != 0 || opt[1] != 8 || int(opt[2])<<8|int(opt[3]) != len(opt)-4 ||
		opt[4] != 0 || opt[7] != 0 {
		return false
	}
	size := 0
	switch opt[5] {
	case 1:
		size = 4
	case 2:
		size = 16
	default:
		return false
	}
	return int(opt[6]) <= size*8 && len(opt)-8 <= size
}

// ecsEchoLen is the length of the echo of a client subnet option accepted by
// fastECS: the address is cut to the bytes its source prefix covers.
func ecsEchoLen(opt []byte) int { return 8 + (int(opt[6])+7)/8 }

// writeECSEcho writes the echo of opt into out, as the edns handler does for
// an answer no geo rule decided: same family and source prefix, scope 0, the
// address masked to the prefix. It returns the bytes written.
func writeECSEcho(out, opt []byte) int {
	src := int(opt[6])
	need := (src + 7) / 8
	e := out[:8+need]
	e[0], e[1], e[2], e[3] = 0, 8, 0, byte(4+need)
	e[4], e[5], e[6], e[7] = 0, opt[5], opt[6], 0
	addr := opt[8:]
	for i := range need {
		b := byte(0)
		if i < len(addr) {
			b = addr[i]
		}
		if i == need-1 && src%8 != 0 {
			b &= 0xFF << (8 - src%8)
		}
		e[8+i] = b
	}
	return len(e)
}
