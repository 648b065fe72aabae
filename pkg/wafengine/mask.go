package wafengine

import "strings"

// Masked replaces a secret value in a match.
const Masked = "[masked]"

// secretHeaders are the headers whose values never leave the node.
var secretHeaders = []string{"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token"}

// secretArgs are the argument name parts that mark a secret value.
var secretArgs = []string{"pass", "pwd", "secret", "token", "api_key", "apikey", "auth", "session", "credential"}

// Mask returns the data of a match on target ("REQUEST_HEADERS:authorization",
// "ARGS:password", "REQUEST_COOKIES:sid") as hits may carry it: secrets
// masked, the rest truncated to MaxMatchData bytes (on a UTF-8 boundary).
func Mask(target, data string) string {
	col, key, _ := strings.Cut(target, ":")
	col, key = strings.ToUpper(col), strings.ToLower(key)
	switch {
	case strings.HasPrefix(col, "REQUEST_COOKIES") && col != "REQUEST_COOKIES_NAMES":
		return Masked
	case col == "REQUEST_HEADERS" || col == "RESPONSE_HEADERS":
		for _, h := range secretHeaders {
			if key == h {
				return Masked
			}
		}
	case strings.HasPrefix(col, "ARGS") && col != "ARGS_NAMES" || col == "XML" || col == "FILES":
		for _, s := range secretArgs {
			if strings.Contains(key, s) {
				return Masked
			}
		}
	}
	return truncate(data, MaxMatchData)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
