package helmchart

import (
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/strata-edge/strata/k8s/controller"
)

// required are the values without which the chart refuses to render.
func required() map[string]any {
	return map[string]any{
		"control": map[string]any{"nats": map[string]any{"url": "nats://nats:4222"}, "leafURL": "nats-leaf://hub:7422", "adminTokenSecret": "strata-admin"},
		"node":    map[string]any{"joinTokenSecret": map[string]any{"name": "strata-join"}},
		"controller": map[string]any{"tokenSecret": map[string]any{"name": "strata-k8s-token"}, "cluster": "east",
			"partitions": []any{"eu", "shop"}, "addresses": []any{"192.0.2.10"}},
	}
}

// render renders the chart with vals over its defaults and decodes every
// manifest strictly (an unknown field or a wrong type fails).
func render(t *testing.T, vals map[string]any, gatewayAPI bool) (map[string]runtime.Object, error) {
	t.Helper()
	chrt, err := loader.Load(filepath.Join("..", "..", "deploy", "helm", "strata"))
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	caps := common.DefaultCapabilities.Copy()
	if gatewayAPI {
		caps.APIVersions = append(caps.APIVersions, "gateway.networking.k8s.io/v1")
	}
	rv, err := util.ToRenderValues(chrt, vals, common.ReleaseOptions{Name: "edge", Namespace: "strata", IsInstall: true}, caps)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(chrt, rv)
	if err != nil {
		return nil, err
	}
	decoder := serializer.NewCodecFactory(controller.Scheme(), serializer.EnableStrict).UniversalDeserializer()
	objs := map[string]runtime.Object{}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		for i, doc := range strings.Split(files[name], "\n---") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			js, err := utilyaml.ToJSON([]byte(doc))
			if err != nil {
				t.Fatalf("%s document %d is not YAML: %v\n%s", name, i, err, doc)
			}
			obj, gvk, err := decoder.Decode(js, nil, nil)
			if err != nil {
				t.Fatalf("%s document %d: %v\n%s", name, i, err, doc)
			}
			key := gvk.Kind + "/" + obj.(interface{ GetName() string }).GetName()
			objs[key] = obj
		}
	}
	return objs, nil
}

func TestChartRendersValidManifests(t *testing.T) {
	objs, err := render(t, required(), true)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for k := range objs {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	want := []string{
		"ClusterRole/edge-strata-k8s-controller", "ClusterRoleBinding/edge-strata-k8s-controller",
		"DaemonSet/edge-strata-node", "Deployment/edge-strata-control", "Deployment/edge-strata-k8s-controller",
		"GatewayClass/strata", "IngressClass/strata", "Service/edge-strata-control", "ServiceAccount/edge-strata-k8s-controller",
	}
	if strings.Join(kinds, " ") != strings.Join(want, " ") {
		t.Errorf("objects:\n%s\nwant:\n%s", strings.Join(kinds, "\n"), strings.Join(want, "\n"))
	}

	ds := objs["DaemonSet/edge-strata-node"].(*appsv1.DaemonSet)
	node := ds.Spec.Template.Spec.Containers[0]
	if !contains(node.Args, "--api=http://edge-strata-control.strata.svc:7400") || !contains(node.Args, "--join-token-file=/etc/strata/join/token") {
		t.Errorf("node args %v: want the control Service and the join token file", node.Args)
	}
	if v := secretVolume(ds.Spec.Template.Spec.Volumes, "join-token"); v == nil || v.SecretName != "strata-join" || *v.DefaultMode != 0o400 {
		t.Errorf("join token volume %+v: want Secret strata-join, mode 0400", v)
	}
	if ds.Spec.Template.Spec.Volumes[0].HostPath == nil {
		t.Errorf("a DaemonSet node keeps its identity on the host: %+v", ds.Spec.Template.Spec.Volumes[0])
	}

	ctl := objs["Deployment/edge-strata-k8s-controller"].(*appsv1.Deployment)
	args := ctl.Spec.Template.Spec.Containers[0].Args
	for _, a := range []string{"k8s-controller", "--cluster=east", "--partition=eu", "--partition=shop", "--address=192.0.2.10", "--leader-elect", "--token-file=/var/run/strata/token"} {
		if !contains(args, a) {
			t.Errorf("controller args %v lack %s", args, a)
		}
	}
	if ctl.Spec.Template.Spec.ServiceAccountName != "edge-strata-k8s-controller" {
		t.Errorf("controller service account %q", ctl.Spec.Template.Spec.ServiceAccountName)
	}
	gc := objs["GatewayClass/strata"].(*gwv1.GatewayClass)
	if gc.Spec.ControllerName != controller.DefaultControllerName {
		t.Errorf("GatewayClass controllerName %q, want %q", gc.Spec.ControllerName, controller.DefaultControllerName)
	}
}

func TestChartOptions(t *testing.T) {
	vals := required()
	vals["node"].(map[string]any)["kind"] = "Deployment"
	vals["node"].(map[string]any)["replicas"] = 3
	objs, err := render(t, vals, false)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := objs["Deployment/edge-strata-node"].(*appsv1.Deployment)
	if !ok || *d.Spec.Replicas != 3 {
		t.Fatalf("node.kind Deployment: %v", objs["Deployment/edge-strata-node"])
	}
	if _, ok := objs["GatewayClass/strata"]; ok {
		t.Error("GatewayClass rendered on a cluster without the Gateway API CRDs")
	}

	vals["node"].(map[string]any)["kind"] = "StatefulSet"
	if _, err := render(t, vals, false); err == nil || !strings.Contains(err.Error(), `node.kind: "StatefulSet" is not DaemonSet or Deployment`) {
		t.Errorf("bad node.kind: %v", err)
	}
	for _, missing := range []struct{ section, key, msg string }{
		{"control", "adminTokenSecret", "control.adminTokenSecret is required"},
		{"controller", "tokenSecret", "controller.tokenSecret.name is required"},
	} {
		vals := required()
		delete(vals[missing.section].(map[string]any), missing.key)
		if _, err := render(t, vals, false); err == nil || !strings.Contains(err.Error(), missing.msg) {
			t.Errorf("without %s.%s: %v, want %q", missing.section, missing.key, err, missing.msg)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func secretVolume(vols []corev1.Volume, name string) *corev1.SecretVolumeSource {
	for _, v := range vols {
		if v.Name == name {
			return v.Secret
		}
	}
	return nil
}
