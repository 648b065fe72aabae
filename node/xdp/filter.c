// SPDX-License-Identifier: (MIT OR GPL-2.0)
// The node's XDP DDoS filter (docs/ddos.md). Built by bpf2go (go generate);
// the Go side (node/xdp) owns every map's content. Kept small and
// verifier-friendly: fixed-size headers, one VLAN tag, a bounded walk over
// at most three IPv6 extension headers, no other loops.
//go:build ignore

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

// Own header structs (only the fields read) so the build needs nothing but
// linux/bpf.h and libbpf's helper headers.
struct ethhdr_ {
	__u8 dst[6];
	__u8 src[6];
	__be16 proto;
} __attribute__((packed));

struct vlanhdr_ {
	__be16 tci;
	__be16 proto;
} __attribute__((packed));

struct iphdr_ {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__be16 check;
	__be32 saddr;
	__be32 daddr;
} __attribute__((packed));

struct ipv6hdr_ {
	__be32 ver_tc_flow;
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
} __attribute__((packed));

struct ipv6opt_ {
	__u8 nexthdr;
	__u8 len; // in 8-octet units, not counting the first 8
} __attribute__((packed));

struct tcphdr_ {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__u8 doff_res; // data offset in the high nibble
	__u8 flags;
	__be16 window;
	__be16 check;
	__be16 urg_ptr;
} __attribute__((packed));

struct udphdr_ {
	__be16 source;
	__be16 dest;
	__be16 len;
	__be16 check;
} __attribute__((packed));

struct icmphdr_ {
	__u8 type;
	__u8 code;
	__be16 check;
} __attribute__((packed));

#define ETH_P_IP_ 0x0800
#define ETH_P_IPV6_ 0x86DD
#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8

#define IPPROTO_ICMP_ 1
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define IPPROTO_ICMPV6_ 58
#define NEXTHDR_HOP_ 0
#define NEXTHDR_ROUTING_ 43
#define NEXTHDR_FRAGMENT_ 44
#define NEXTHDR_DEST_ 60

#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10

// Counter indexes; the Go side names them in the same order.
enum reason {
	R_PASSED = 0,
	R_ALLOW_LISTED,
	R_DENIED_CIDR,
	R_BLOCKED_TTL,
	R_SYN_RATE,
	R_DNS_RATE,
	R_ICMP_RATE,
	R_MALFORMED,
	R_FRAGMENT,
	R_SYN_COOKIE_SENT,
	R_SYN_COOKIE_ACK_OK,
	R_MAX,
};

// Rate-limit kinds, the first word of a bucket key.
enum limit_kind {
	L_SYN = 0,
	L_DNS,
	L_ICMP,
	L_MAX,
};

#define FLAG_DROP_MALFORMED 1
#define FLAG_DROP_FRAGMENTS 2
#define FLAG_SYN_COOKIES 4

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_RST 0x04

struct limit {
	__u64 interval_ns; // 1e9 / packets per second; 0 = limit off
	__u64 tolerance_ns; // (burst - 1) * interval_ns
};

struct config {
	struct limit limits[L_MAX];
	__u32 flags;
	__u32 pad;
};

struct lpm_v4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct lpm_v6 {
	__u32 prefixlen;
	__u8 addr[16];
};

// A deny entry: expires_ns is a CLOCK_MONOTONIC deadline (bpf_ktime_get_ns),
// 0 for a block without one.
struct deny_val {
	__u64 expires_ns;
};

struct bucket_key {
	__u32 kind;
	__u8 addr[16]; // IPv4 sources as ::ffff:a.b.c.d, IPv6 ones as their /64
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct config);
} config_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, R_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v4);
	__type(value, __u8);
} allow_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v6);
	__type(value, __u8);
} allow_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1000000);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v4);
	__type(value, struct deny_val);
} deny_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1000000);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v6);
	__type(value, struct deny_val);
} deny_v6 SEC(".maps");

// One u64 per (kind, source): the GCRA "theoretical arrival time", moved
// forward with compare-and-swap so every CPU shares one exact bucket
// without a lock.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, struct bucket_key);
	__type(value, __u64);
} buckets SEC(".maps");

static __always_inline int count(__u32 reason, int action)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &reason);
	if (c)
		*c += 1; // per-CPU slot: no other writer
	return action;
}

// over_rate reports whether one more packet from the source exceeds the
// limit (GCRA: a packet conforms when the arrival time it would take is at
// most tolerance_ns ahead of now).
static __always_inline int over_rate(struct config *cfg, __u32 kind, const __u8 addr[16])
{
	if (kind >= L_MAX)
		return 0;
	struct limit *l = &cfg->limits[kind];
	__u64 interval = l->interval_ns;
	if (interval == 0)
		return 0;
	__u64 tolerance = l->tolerance_ns;

	struct bucket_key key = { .kind = kind };
	__builtin_memcpy(key.addr, addr, 16);
	__u64 now = bpf_ktime_get_ns();

	__u64 *tat = bpf_map_lookup_elem(&buckets, &key);
	if (!tat) {
		__u64 first = now + interval;
		if (bpf_map_update_elem(&buckets, &key, &first, BPF_NOEXIST) == 0)
			return 0;
		tat = bpf_map_lookup_elem(&buckets, &key); // another CPU created it
		if (!tat)
			return 0;
	}
	// Two attempts: losing both means other CPUs moved the bucket for
	// packets of the same source in the same instant; treat as over.
	for (int i = 0; i < 2; i++) {
		__u64 old = *(volatile __u64 *)tat;
		__u64 t = old > now ? old : now;
		if (t - now > tolerance)
			return 1;
		if (__sync_val_compare_and_swap(tat, old, t + interval) == old)
			return 0;
	}
	return 1;
}

// check_deny turns a deny-trie match into an action, or -1 to go on (no
// match, or a timed block that has expired).
static __always_inline int check_deny(struct deny_val *d)
{
	if (!d)
		return -1;
	if (d->expires_ns == 0)
		return count(R_DENIED_CIDR, XDP_DROP);
	if (bpf_ktime_get_ns() < d->expires_ns)
		return count(R_BLOCKED_TTL, XDP_DROP);
	return -1; // expired; the Go side sweeps it
}

// fold turns a 32-bit one's-complement sum into the 16-bit checksum.
static __always_inline __u16 fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

// load_syn copies the SYN's TCP header (options included) to th and returns
// its length, or 0: the cookie helpers read the options (for the MSS), and
// a stack copy of a variable length keeps the verifier's bounds simple.
static __always_inline __u32 load_syn(struct xdp_md *ctx, struct tcphdr_ *tcp, __u8 th[60])
{
	__u32 tcp_len = (tcp->doff_res >> 4) * 4;
	if (tcp_len < 20 || tcp_len > 60)
		return 0;
	__u32 off = (void *)tcp - (void *)(long)ctx->data;
	if (bpf_xdp_load_bytes(ctx, off, th, tcp_len) < 0)
		return 0;
	return tcp_len;
}

static __always_inline void swap_macs(struct ethhdr_ *eth)
{
	__u8 mac[6];
	__builtin_memcpy(mac, eth->dst, 6);
	__builtin_memcpy(eth->dst, eth->src, 6);
	__builtin_memcpy(eth->src, mac, 6);
}

// synack rewrites the SYN's TCP header into the SYN-ACK: ports swapped,
// seq = cookie, ack = the SYN's seq + 1, out_len bytes (24 with the MSS
// option), the checksum over sum (the pseudo header's partial sum) and the
// header. Its bytes past out_len are beyond the IP length: padding the
// receiver ignores. -1 when the packet is too short for the option.
static __always_inline int synack(struct tcphdr_ *tcp, void *end, __u32 cookie, __u16 mss,
				  __u32 out_len, __u32 sum)
{
	__be16 p = tcp->source;
	tcp->source = tcp->dest;
	tcp->dest = p;
	tcp->ack_seq = bpf_htonl(bpf_ntohl(tcp->seq) + 1);
	tcp->seq = bpf_htonl(cookie);
	tcp->doff_res = (out_len / 4) << 4;
	tcp->flags = TCP_FLAG_SYN | TCP_FLAG_ACK;
	tcp->window = bpf_htons(65535);
	tcp->urg_ptr = 0;
	tcp->check = 0;
	__u16 *w = (void *)tcp;
	if (out_len == 24) {
		__u8 *opt = (void *)(tcp + 1);
		if ((void *)(opt + 4) > end)
			return -1;
		opt[0] = 2; // MSS
		opt[1] = 4;
		*(__be16 *)(opt + 2) = bpf_htons(mss);
		sum += w[10] + w[11];
	}
#pragma unroll
	for (int i = 0; i < 10; i++)
		sum += w[i];
	tcp->check = fold(sum);
	return 0;
}

// The reply's TCP header: 20 bytes, 24 with the MSS option when the SYN's
// header has room for it (a SYN without options gets none: the client then
// assumes 536, the MSS the cookie encodes for it).
#define SYNACK_LEN(tcp_len) ((tcp_len) >= 24 ? 24 : 20)

// syn_cookie_v4 turns a SYN over the limit into a SYN-ACK whose sequence
// number is the kernel's own syncookie (the listener validates the
// handshake's ACK with the same secret, net.ipv4.tcp_syncookies on), and
// sends it back out the interface. Only an IPv4 header without options;
// anything else is dropped as before (-1 returns to that).
static __always_inline int syn_cookie_v4(struct xdp_md *ctx, struct ethhdr_ *eth,
					 struct iphdr_ *ip, struct tcphdr_ *tcp, void *end)
{
	if ((ip->ver_ihl & 0x0f) != 5)
		return -1;
	__u8 th[60] = {};
	__u32 tcp_len = load_syn(ctx, tcp, th);
	if (tcp_len == 0)
		return -1;
	__s64 v = bpf_tcp_raw_gen_syncookie_ipv4((void *)ip, (void *)th, tcp_len);
	if (v < 0)
		return -1;
	__u32 out_len = SYNACK_LEN(tcp_len);

	swap_macs(eth);
	__be32 a = ip->saddr;
	ip->saddr = ip->daddr;
	ip->daddr = a;
	ip->tos = 0;
	ip->tot_len = bpf_htons(20 + out_len);
	ip->id = 0;
	ip->frag_off = bpf_htons(0x4000); // DF
	ip->ttl = 64;
	ip->check = 0;
	__u32 sum = 0;
	__u16 *w = (void *)ip;
#pragma unroll
	for (int i = 0; i < 10; i++)
		sum += w[i];
	ip->check = fold(sum);

	sum = (ip->saddr & 0xffff) + (ip->saddr >> 16) + (ip->daddr & 0xffff) +
	      (ip->daddr >> 16) + bpf_htons(IPPROTO_TCP_) + bpf_htons(out_len);
	if (synack(tcp, end, (__u32)v, (__u16)(v >> 32), out_len, sum) < 0)
		return -1;
	return count(R_SYN_COOKIE_SENT, XDP_TX);
}

// syn_cookie_v6 is syn_cookie_v4 for an IPv6 header followed directly by
// TCP (no extension headers).
static __always_inline int syn_cookie_v6(struct xdp_md *ctx, struct ethhdr_ *eth,
					 struct ipv6hdr_ *ip6, struct tcphdr_ *tcp, void *end)
{
	if (ip6->nexthdr != IPPROTO_TCP_)
		return -1;
	__u8 th[60] = {};
	__u32 tcp_len = load_syn(ctx, tcp, th);
	if (tcp_len == 0)
		return -1;
	__s64 v = bpf_tcp_raw_gen_syncookie_ipv6((void *)ip6, (void *)th, tcp_len);
	if (v < 0)
		return -1;
	__u32 out_len = SYNACK_LEN(tcp_len);

	swap_macs(eth);
	__u8 a[16];
	__builtin_memcpy(a, ip6->saddr, 16);
	__builtin_memcpy(ip6->saddr, ip6->daddr, 16);
	__builtin_memcpy(ip6->daddr, a, 16);
	ip6->ver_tc_flow = bpf_htonl(0x60000000);
	ip6->payload_len = bpf_htons(out_len);
	ip6->hop_limit = 64;

	__u32 sum = bpf_htons(IPPROTO_TCP_) + bpf_htons(out_len);
	__u16 *w = (void *)ip6->saddr;
#pragma unroll
	for (int i = 0; i < 16; i++) // both addresses
		sum += w[i];
	if (synack(tcp, end, (__u32)v, (__u16)(v >> 32), out_len, sum) < 0)
		return -1;
	return count(R_SYN_COOKIE_SENT, XDP_TX);
}

// cookie_ack reports whether a TCP segment is a handshake's last ACK (no
// payload) answering one of the cookies.
static __always_inline int cookie_ack(__u16 proto, void *l3, struct tcphdr_ *tcp, void *end)
{
	if ((tcp->flags & (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_RST | TCP_FLAG_FIN)) != TCP_FLAG_ACK)
		return 0;
	__u32 tcp_len = (tcp->doff_res >> 4) * 4;
	if (proto == ETH_P_IP_) {
		struct iphdr_ *ip = l3;
		if ((void *)(ip + 1) > end ||
		    bpf_ntohs(ip->tot_len) != (ip->ver_ihl & 0x0f) * 4 + tcp_len)
			return 0;
		return bpf_tcp_raw_check_syncookie_ipv4((void *)ip, (void *)tcp) == 0;
	}
	struct ipv6hdr_ *ip6 = l3;
	if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_TCP_ ||
	    bpf_ntohs(ip6->payload_len) != tcp_len)
		return 0;
	return bpf_tcp_raw_check_syncookie_ipv6((void *)ip6, (void *)tcp) == 0;
}

SEC("xdp")
int strata_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct config *cfg = bpf_map_lookup_elem(&config_map, &zero);
	if (!cfg)
		return XDP_PASS;
	int malformed_act = (cfg->flags & FLAG_DROP_MALFORMED) ? XDP_DROP : XDP_PASS;

	struct ethhdr_ *eth = data;
	if ((void *)(eth + 1) > end)
		return count(R_MALFORMED, malformed_act);
	void *l3 = eth + 1;
	__u16 proto = bpf_ntohs(eth->proto);
	if (proto == ETH_P_8021Q_ || proto == ETH_P_8021AD_) {
		struct vlanhdr_ *vh = l3;
		if ((void *)(vh + 1) > end)
			return count(R_MALFORMED, malformed_act);
		proto = bpf_ntohs(vh->proto);
		l3 = vh + 1;
	}

	__u8 src[16] = {};
	__u8 l4proto;
	void *l4;
	int fragment = 0, later_fragment = 0;

	if (proto == ETH_P_IP_) {
		struct iphdr_ *ip = l3;
		if ((void *)(ip + 1) > end)
			return count(R_MALFORMED, malformed_act);
		__u32 ihl = (ip->ver_ihl & 0x0f) * 4;
		if ((ip->ver_ihl >> 4) != 4 || ihl < sizeof(*ip) || l3 + ihl > end ||
		    bpf_ntohs(ip->tot_len) < ihl)
			return count(R_MALFORMED, malformed_act);

		struct lpm_v4 k = { .prefixlen = 32 };
		__builtin_memcpy(k.addr, &ip->saddr, 4);
		if (bpf_map_lookup_elem(&allow_v4, &k))
			return count(R_ALLOW_LISTED, XDP_PASS);
		int act = check_deny(bpf_map_lookup_elem(&deny_v4, &k));
		if (act >= 0)
			return act;

		src[10] = 0xff;
		src[11] = 0xff;
		__builtin_memcpy(&src[12], &ip->saddr, 4);
		__u16 frag = bpf_ntohs(ip->frag_off);
		fragment = (frag & 0x3fff) != 0; // MF or an offset
		later_fragment = (frag & 0x1fff) != 0;
		l4proto = ip->protocol;
		l4 = l3 + ihl;
	} else if (proto == ETH_P_IPV6_) {
		struct ipv6hdr_ *ip6 = l3;
		if ((void *)(ip6 + 1) > end)
			return count(R_MALFORMED, malformed_act);
		if ((bpf_ntohl(ip6->ver_tc_flow) >> 28) != 6)
			return count(R_MALFORMED, malformed_act);

		struct lpm_v6 k = { .prefixlen = 128 };
		__builtin_memcpy(k.addr, ip6->saddr, 16);
		if (bpf_map_lookup_elem(&allow_v6, &k))
			return count(R_ALLOW_LISTED, XDP_PASS);
		int act = check_deny(bpf_map_lookup_elem(&deny_v6, &k));
		if (act >= 0)
			return act;

		// Buckets per /64: one host picks freely among its 2^64 addresses.
		__builtin_memcpy(src, ip6->saddr, 8);
		l4proto = ip6->nexthdr;
		l4 = ip6 + 1;
#pragma unroll
		for (int i = 0; i < 3; i++) {
			if (l4proto == NEXTHDR_FRAGMENT_) {
				fragment = 1;
				// Fragment header: nexthdr, reserved, offset+flags, id.
				if (l4 + 8 > end)
					return count(R_MALFORMED, malformed_act);
				__u16 off = bpf_ntohs(*(__be16 *)(l4 + 2));
				later_fragment = (off & 0xfff8) != 0;
				l4proto = *(__u8 *)l4;
				l4 += 8;
				continue;
			}
			if (l4proto != NEXTHDR_HOP_ && l4proto != NEXTHDR_ROUTING_ &&
			    l4proto != NEXTHDR_DEST_)
				break;
			struct ipv6opt_ *opt = l4;
			if ((void *)(opt + 1) > end)
				return count(R_MALFORMED, malformed_act);
			l4proto = opt->nexthdr;
			l4 += ((__u32)opt->len + 1) * 8;
		}
		// More extension headers than the walk reads: the limits below
		// cannot see the L4 header, so they may not be skipped that way.
		if (l4proto == NEXTHDR_HOP_ || l4proto == NEXTHDR_ROUTING_ ||
		    l4proto == NEXTHDR_DEST_ || l4proto == NEXTHDR_FRAGMENT_)
			return count(R_MALFORMED, malformed_act);
	} else {
		return count(R_PASSED, XDP_PASS); // not IP: ARP, LLDP...
	}

	if (fragment && (cfg->flags & FLAG_DROP_FRAGMENTS))
		return count(R_FRAGMENT, XDP_DROP);
	if (later_fragment)
		return count(R_PASSED, XDP_PASS); // no L4 header to look at

	if (l4proto == IPPROTO_TCP_) {
		struct tcphdr_ *tcp = l4;
		if ((void *)(tcp + 1) > end)
			return count(R_MALFORMED, malformed_act);
		if ((tcp->doff_res >> 4) < 5)
			return count(R_MALFORMED, malformed_act);
		if ((tcp->flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN &&
		    over_rate(cfg, L_SYN, src)) {
			if ((cfg->flags & FLAG_SYN_COOKIES) && !fragment) {
				int act = proto == ETH_P_IP_ ?
						  syn_cookie_v4(ctx, data, l3, tcp, end) :
						  syn_cookie_v6(ctx, data, l3, tcp, end);
				if (act >= 0)
					return act;
			}
			return count(R_SYN_RATE, XDP_DROP);
		}
		// A handshake's last ACK answering a cookie: counted; it passes
		// either way (established connections send such ACKs too), and
		// the listener validates it again itself.
		if ((cfg->flags & FLAG_SYN_COOKIES) && !fragment && cookie_ack(proto, l3, tcp, end))
			return count(R_SYN_COOKIE_ACK_OK, XDP_PASS);
	} else if (l4proto == IPPROTO_UDP_) {
		struct udphdr_ *udp = l4;
		if ((void *)(udp + 1) > end)
			return count(R_MALFORMED, malformed_act);
		if (udp->dest == bpf_htons(53) && over_rate(cfg, L_DNS, src))
			return count(R_DNS_RATE, XDP_DROP);
	} else if (l4proto == IPPROTO_ICMP_ || l4proto == IPPROTO_ICMPV6_) {
		struct icmphdr_ *icmp = l4;
		if ((void *)(icmp + 1) > end)
			return count(R_MALFORMED, malformed_act);
		__u8 echo = l4proto == IPPROTO_ICMP_ ? 8 : 128;
		if (icmp->type == echo && over_rate(cfg, L_ICMP, src))
			return count(R_ICMP_RATE, XDP_DROP);
	}
	return count(R_PASSED, XDP_PASS);
}

char _license[] SEC("license") = "Dual MIT/GPL";
