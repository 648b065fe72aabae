package testenv

import (
	"net/http"
	"net/http/httptest"
	"path"
	"testing"

	"connectrpc.com/connect"

	"github.com/strata-edge/strata/pkg/apiauth"
)

// ServeAs runs the Connect handlers (path, handler, as Handler() returns
// them) behind an HTTP/2 TLS test server closed when t ends. Every call runs
// as user caller, with request id "req-" and the procedure's name: the
// stand-in for the API server's authentication interceptor.
func ServeAs(t testing.TB, caller string, handlers ...func(...connect.HandlerOption) (string, http.Handler)) *httptest.Server {
	mux := http.NewServeMux()
	for _, h := range handlers {
		mux.Handle(h())
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := apiauth.WithPrincipal(r.Context(), apiauth.Principal{Name: caller, Kind: "user"})
		mux.ServeHTTP(w, r.WithContext(apiauth.WithRequestID(ctx, "req-"+path.Base(r.URL.Path))))
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}
