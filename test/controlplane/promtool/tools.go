//go:build tools

// Package tools pins promtool, built in its own module because Prometheus' Kubernetes
// and OpenTelemetry library versions differ from the control plane's and Helm's.
package tools

import _ "github.com/prometheus/prometheus/cmd/promtool"
