//go:build tools

// Package tools pins Helm, built in its own module because Helm's Kubernetes
// library versions differ from the control plane's.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
