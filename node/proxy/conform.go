package proxy

// Request conformance checks shared by both engines (fast.go and std.go):
// each takes the few request fields it needs, so that both listeners give
// the same answer from one function.

// pathNeedsNormalizing reports whether a path as sent (before '?') may
// differ from the normalized path that rules match: it has percent-escapes,
// dot segments, doubled slashes or backslashes. Such a path is forwarded in
// its normalized form (nginx's default), so the upstream gets the path the
// rules saw: "/admin/..%2fsecret" is matched and forwarded as "/secret".
// False positives ("/.well-known", "/a%20b") only cost a re-encoding.
func pathNeedsNormalizing[T string | []byte](raw T) bool {
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '%', '\\':
			return true
		case '/':
			if i+1 < len(raw) && (raw[i+1] == '/' || raw[i+1] == '.') {
				return true
			}
		}
	}
	return len(raw) == 0 || raw[0] != '/'
}

// checkRequestLine returns the status (0: acceptable) and message for a
// request line the edge refuses, as nginx does: CONNECT (the edge is not a
// forward proxy) and the asterisk form ("OPTIONS *", which no app asked
// for) get 400; an HTTP/1 listener answers HTTP/2.0 and later with 505.
// proto "" skips the version check (HTTP/2 requests, or net/http, which
// refuses other versions itself).
func checkRequestLine(method, target, proto string) (int, string) {
	if method == "CONNECT" {
		return 400, "CONNECT is not supported\n"
	}
	if target == "*" {
		return 400, "request target \"*\" is not supported\n"
	}
	if proto != "" && proto != "HTTP/1.1" && proto != "HTTP/1.0" {
		if len(proto) != 8 || proto[:5] != "HTTP/" || proto[6] != '.' || !isDigit(proto[5]) || !isDigit(proto[7]) {
			return 400, "bad HTTP version\n"
		}
		if proto[5] != '1' { // HTTP/1.x is HTTP/1.1 (nginx)
			return 505, "HTTP version " + proto[5:] + " not supported on this listener\n"
		}
	}
	return 0, ""
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
