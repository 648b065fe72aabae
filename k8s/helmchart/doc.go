// Package helmchart holds the test of the Helm chart in deploy/helm/strata:
// rendered with Helm's own engine and every manifest decoded strictly into
// the Kubernetes API types, no cluster needed.
package helmchart
