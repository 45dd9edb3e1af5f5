//go:build tools

// Package tools pins MetalLB's controller, the LoadBalancer IP allocator of the test node
// (IPAM only: the node's routes stand in for L2/BGP announcement).
package tools

import _ "go.universe.tf/metallb/controller"
