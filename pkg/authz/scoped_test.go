package authz

import (
	"context"
	"slices"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/strata-edge/strata/pkg/apiauth"
)

// deptPolicy: "shopteam" is admin over partition "default" (par_1) only;
// "shopviewer" views app "shop" only.
func deptPolicy(t *testing.T) Policy {
	admin, viewer := role(t, RoleAdmin), role(t, RoleViewer)
	return PolicyFunc(func(_ context.Context, p apiauth.Principal) ([]Grant, error) {
		switch p.Name {
		case "shopteam":
			return []Grant{{admin, Object{KindPartition, "par_1"}}}, nil
		case "shopviewer":
			return []Grant{{viewer, Object{KindApp, "app_shop"}}}, nil
		}
		return nil, nil
	})
}

func setString(field, v string) func(*dynamicpb.Message) {
	return func(m *dynamicpb.Message) {
		m.Set(m.Descriptor().Fields().ByName(protoreflect.Name(field)), protoreflect.ValueOfString(v))
	}
}

func setStrings(field string, vs ...string) func(*dynamicpb.Message) {
	return func(m *dynamicpb.Message) {
		fd := m.Descriptor().Fields().ByName(protoreflect.Name(field))
		l := m.Mutable(fd).List()
		for _, v := range vs {
			l.Append(protoreflect.ValueOfString(v))
		}
	}
}

func both(fs ...func(*dynamicpb.Message)) func(*dynamicpb.Message) {
	return func(m *dynamicpb.Message) {
		for _, f := range fs {
			f(m)
		}
	}
}

// respondWithEverything answers list calls with every object of the world.
func respondWithEverything(proc string, out *dynamicpb.Message) {
	addTo := func(field string, set func(el protoreflect.Message, id string), ids ...string) {
		fd := out.Descriptor().Fields().ByName(protoreflect.Name(field))
		l := out.Mutable(fd).List()
		for _, id := range ids {
			el := l.NewElement()
			set(el.Message(), id)
			l.Append(el)
		}
	}
	setField := func(m protoreflect.Message, name, v string) {
		m.Set(m.Descriptor().Fields().ByName(protoreflect.Name(name)), protoreflect.ValueOfString(v))
	}
	switch proc {
	case "/strata.config.v1.ConfigService/ListApps":
		addTo("apps", func(m protoreflect.Message, id string) { setField(m, "id", id) }, "app_blog", "app_shop", "app_both")
	case "/strata.config.v1.ConfigService/ListPartitions":
		addTo("partitions", func(m protoreflect.Message, id string) { setField(m, "id", id) }, "par_1", "par_2")
	case "/strata.config.v1.ConfigService/ListNodes":
		addTo("nodes", func(m protoreflect.Message, id string) {
			node := m.Mutable(m.Descriptor().Fields().ByName("node")).Message()
			setField(node, "id", id)
		}, "nod_1", "nod_other")
	}
}

func listedIDs(t *testing.T, m *dynamicpb.Message, field, idPath string) []string {
	t.Helper()
	if m == nil {
		t.Fatal("no response")
	}
	var out []string
	l := m.Get(m.Descriptor().Fields().ByName(protoreflect.Name(field))).List()
	for i := 0; i < l.Len(); i++ {
		out = append(out, stringAt(l.Get(i).Message(), idPath))
	}
	return out
}

func TestScopedGrants(t *testing.T) {
	srv := newTestServer(t, deptPolicy(t), newWorld().resolvers(), respondWithEverything)
	const cfg = "/strata.config.v1.ConfigService/"
	const met = "/strata.metrics.v1.MetricsService/"
	tests := []struct {
		name   string
		caller string
		proc   string
		fill   func(*dynamicpb.Message)
		want   connect.Code
	}{
		{"own app", "shopteam", cfg + "GetApp", setString("app_id", "app_shop"), 0},
		{"other partition's app", "shopteam", cfg + "GetApp", setString("app_id", "app_blog"), connect.CodePermissionDenied},
		{"app shared with another partition", "shopteam", cfg + "UpdateUpstream", setString("app_id", "app_both"), connect.CodePermissionDenied},
		{"unknown app looks like a forbidden one", "shopteam", cfg + "GetApp", setString("app_id", "app_nope"), connect.CodePermissionDenied},
		{"create app in default partition", "shopteam", cfg + "CreateApp", nil, 0},
		{"create app in own partition by name", "shopteam", cfg + "CreateApp", setStrings("partitions", "default"), 0},
		{"create app in another partition", "shopteam", cfg + "CreateApp", setStrings("partitions", "eu"), connect.CodePermissionDenied},
		{"create app in two partitions", "shopteam", cfg + "CreateApp", setStrings("partitions", "default", "eu"), connect.CodePermissionDenied},
		{"move own app to another partition", "shopteam", cfg + "UpdateApp", both(setString("app_id", "app_shop"), setStrings("partitions", "eu")), connect.CodePermissionDenied},
		{"release own app", "shopteam", cfg + "CreateRelease", setString("app_id", "app_shop"), 0},
		{"node of own cluster", "shopteam", cfg + "SetNodeStaging", setString("node_id", "nod_1"), 0},
		{"cluster in own partition", "shopteam", cfg + "CreateCluster", setString("partition", "default"), 0},
		{"partitions are global", "shopteam", cfg + "CreatePartition", nil, connect.CodePermissionDenied},
		{"snapshot of own partition", "shopteam", cfg + "GetSnapshot", setString("partition", "par_1"), 0},
		{"snapshot of another partition", "shopteam", cfg + "GetSnapshot", setString("partition", "eu"), connect.CodePermissionDenied},
		{"IAM stays closed", "shopteam", "/strata.iam.v1.IAMService/ListUsers", nil, connect.CodePermissionDenied},
		{"app viewer reads it", "shopviewer", cfg + "GetApp", setString("app_id", "app_shop"), 0},
		{"app viewer cannot write it", "shopviewer", cfg + "UpdateApp", setString("app_id", "app_shop"), connect.CodePermissionDenied},
		{"app viewer cannot read the partition snapshot", "shopviewer", cfg + "GetSnapshot", setString("partition", "par_1"), connect.CodePermissionDenied},
		{"app viewer reads its app's series", "shopviewer", met + "QuerySeries", setString("app_id", "app_shop"), 0},
		{"app viewer cannot read another app's series", "shopviewer", met + "QuerySeries", setString("app_id", "app_blog"), connect.CodePermissionDenied},
		{"app viewer cannot read another app's top", "shopviewer", met + "QueryTop", setString("app_id", "app_blog"), connect.CodePermissionDenied},
		{"app viewer tails its app", "shopviewer", met + "Tail", setString("app_id", "app_shop"), 0},
		{"app viewer cannot tail another app", "shopviewer", met + "Tail", setString("app_id", "app_blog"), connect.CodePermissionDenied},
		{"app viewer reads its app's health", "shopviewer", met + "ListHealth", setString("app_id", "app_shop"), 0},
		{"app viewer cannot read a node's liveness", "shopviewer", met + "ListHealth", setString("node_id", "nod_1"), connect.CodePermissionDenied},
		{"app viewer cannot read a node's machine", "shopviewer", met + "GetNodeStats", setString("node_id", "nod_1"), connect.CodePermissionDenied},
		{"app viewer cannot read Metric SQL results", "shopviewer", met + "QueryMetric", setString("metric", "hosts"), connect.CodePermissionDenied},
		{"partition admin reads its node's machine", "shopteam", met + "GetNodeStats", setString("node_id", "nod_1"), 0},
		{"partition admin reads another partition's node", "shopteam", met + "GetNodeStats", setString("node_id", "nod_other"), connect.CodePermissionDenied},
		{"partition admin cannot define Metric SQL", "shopteam", met + "CreateMetric", nil, connect.CodePermissionDenied},
	}
	for _, proto := range []struct {
		name string
		opts []connect.ClientOption
	}{{"connect", nil}, {"grpc", []connect.ClientOption{connect.WithGRPC()}}} {
		for _, tt := range tests {
			t.Run(proto.name+"/"+tt.name, func(t *testing.T) {
				if _, got := srv.call(t, tt.proc, "token-"+tt.caller, tt.fill, proto.opts...); got != tt.want {
					t.Fatalf("%s as %s: code %v, want %v", tt.proc, tt.caller, got, tt.want)
				}
			})
		}
	}
}

func TestListsAreFiltered(t *testing.T) {
	srv := newTestServer(t, deptPolicy(t), newWorld().resolvers(), respondWithEverything)
	const cfg = "/strata.config.v1.ConfigService/"
	tests := []struct {
		caller, proc, field, idPath string
		want                        []string
	}{
		{"shopteam", cfg + "ListApps", "apps", "id", []string{"app_shop"}},
		{"shopviewer", cfg + "ListApps", "apps", "id", []string{"app_shop"}},
		{"shopteam", cfg + "ListPartitions", "partitions", "id", []string{"par_1"}},
		{"shopteam", cfg + "ListNodes", "nodes", "node.id", []string{"nod_1"}},
		{"shopviewer", cfg + "ListNodes", "nodes", "node.id", nil},
	}
	for _, tt := range tests {
		t.Run(tt.caller+tt.proc, func(t *testing.T) {
			res, code := srv.call(t, tt.proc, "token-"+tt.caller, nil)
			if code != 0 {
				t.Fatalf("code %v", code)
			}
			if got := listedIDs(t, res, tt.field, tt.idPath); !slices.Equal(got, tt.want) {
				t.Fatalf("listed %v, want %v", got, tt.want)
			}
		})
	}
	// A caller with a grant over everything sees everything.
	all := newTestServer(t, globalPolicy(), newWorld().resolvers(), respondWithEverything)
	res, _ := all.call(t, cfg+"ListApps", "token-"+RoleViewer, nil)
	if got := listedIDs(t, res, "apps", "id"); len(got) != 3 {
		t.Fatalf("viewer over everything listed %v, want 3 apps", got)
	}
}
