package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/strata-edge/strata/node/cache"
	"github.com/strata-edge/strata/node/tier"
)

// Tiered caching and streamed fills. A cache miss on a node whose cluster
// has parent clusters asks a parent-tier node (node/tier picks it by
// rendezvous hashing on the cache key) before the origin. The parent gets
// the client's request as it came (Host, path, query; no conditional or
// Range headers: fills fetch whole objects), plus Strata-Tier-Hops, and
// handles it like any request of that host: its own cache, its own parents,
// or the origin. Rule edits are the parent's to apply, so the child sends
// the request unedited. The parent honours the tier headers only from a
// peer (tierPeer) and marks its answer with tier.AcceptedHeader; without
// it, the child takes the answer for a failed attempt.

// tierFetch asks the node's parents for the request of st; nil when it
// has none, the request already passed tier.MaxHops tiers, or every parent
// failed (the caller goes to the origin).
func (p *Proxy) tierFetch(ctx context.Context, st *stdState, creq *cache.Request) *cache.Response {
	t := p.opts.Tier
	if t == nil {
		return nil
	}
	in := st.r
	hops, _ := tier.ParseHops(in.Header.Get(tier.HopsHeader))
	if hops >= tier.MaxHops {
		return nil
	}
	if !t.Any() {
		return nil
	}
	key := st.plan.Cache.Key.Build(creq)
	out := fillRequest(ctx, in)
	ip := st.ClientIP().String()
	if prior := in.Header.Values("X-Forwarded-For"); len(prior) > 0 && hops > 0 {
		ip = strings.Join(prior, ", ") // a parent's parent: keep the chain the child sent
	}
	out.Header.Set("X-Forwarded-For", ip)
	out.Header.Set("X-Forwarded-Proto", st.Scheme())
	out.Header.Set(tier.HopsHeader, strconv.Itoa(hops+1))
	resp, n, err := t.Fetch(context.WithoutCancel(ctx), key, out) // as fillFetch
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			p.log.Debug("proxy: no parent tier answered; going to the origin", "host", in.Host, "err", err)
		}
		return nil
	}
	res := fillResponse(resp)
	res.Parent = n.ID
	if s := res.Header.Get(cache.StatusHeader); s != "" {
		res.Parent += "; status=" + s
	}
	res.Header.Del(cache.StatusHeader) // the parent's, not ours
	res.Header.Del(tier.ParentHeader)
	res.Header.Del(tier.AcceptedHeader)
	return res
}

// tierPeer reports whether ip, the TCP peer of a request carrying
// tier.HopsHeader, is another node of the partition (tier.Tier.Peer): only
// then do the tier headers count. From anyone else they are dropped and
// the request is a client's. Requests without the header never ask, so
// the check costs the normal path nothing.
func (p *Proxy) tierPeer(ip netip.Addr) bool {
	return p.opts.Tier != nil && p.opts.Tier.Peer(ip)
}

// A peer's request with X-Forwarded-Proto: https is a child's miss of a
// request it received over https: the parent routes it to the https apps
// and its rules see Scheme "https", as on the child; its fill sends
// X-Forwarded-Proto: https to the origin (Proxy.handle, routeHTTPS).

// writeStreamFast sends a result whose body is still arriving: fasthttp
// copies the stream after the handler returns (Content-Length when known,
// chunked otherwise) and closes it; a broken stream closes the connection.
func writeStreamFast(ctx *fasthttp.RequestCtx, res *cache.Result) {
	eachResultHeader(res, ctx.Response.Header.Add)
	ctx.Response.SetStatusCode(res.Status)
	size := -1
	if res.Length >= 0 && int64(int(res.Length)) == res.Length {
		size = int(res.Length)
	}
	ctx.Response.SetBodyStream(res.Stream, size)
}

// writeStreamStd sends a result whose body is still arriving, flushing
// each read. A broken stream aborts the response (the connection is
// closed, so the client never takes a torn body for a whole one).
func writeStreamStd(w http.ResponseWriter, r *http.Request, res *cache.Result) {
	defer res.Stream.Close()
	if res.Length >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(res.Length, 10))
	}
	w.WriteHeader(res.Status)
	if r.Method == http.MethodHead {
		return
	}
	rc := http.NewResponseController(w)
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		n, err := res.Stream.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			_ = rc.Flush()
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			panic(http.ErrAbortHandler)
		}
	}
}
