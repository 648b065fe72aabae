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
