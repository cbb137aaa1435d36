// kind-config-check reads a kind cluster configuration exactly as `kind create cluster --config FILE`
// does before it starts any container: kind's own loader (the apiVersion/kind check, a strict decode
// into the v1alpha4 types that refuses unknown fields, defaulting), the default cluster name when the
// file gives none, and kind's own validation. Then it checks what the chart's install guide relies
// on: a control-plane node labelled ingress-ready=true that maps host ports 80 and 443.
//
// Usage: kind-config-check FILE. Exit 0 and "OK ..." on success, 1 and the errors otherwise.
package main

import (
	"fmt"
	"os"

	"sigs.k8s.io/kind/pkg/internal/apis/config"
	"sigs.k8s.io/kind/pkg/internal/apis/config/encoding"
)

// defaultName is kind's cluster name when neither --name nor the file's name is set.
const defaultName = "kind"

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kind-config-check FILE")
		os.Exit(2)
	}
	problems, err := check(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, p)
		}
		os.Exit(1)
	}
	fmt.Printf("OK %s\n", os.Args[1])
}

func check(path string) ([]string, error) {
	cfg, err := encoding.Load(path)
	if err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		cfg.Name = defaultName
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return ingressReady(cfg), nil
}

// ingressReady lists what keeps ingress-nginx's kind manifest from serving on the host's 80 and 443.
func ingressReady(cfg *config.Cluster) []string {
	for _, node := range cfg.Nodes {
		if node.Role != config.ControlPlaneRole || node.Labels["ingress-ready"] != "true" {
			continue
		}
		var problems []string
		for _, port := range []int32{80, 443} {
			if !mapsPort(node, port) {
				problems = append(problems, fmt.Sprintf("the ingress-ready node does not map host port %d to container port %d over TCP", port, port))
			}
		}
		return problems
	}
	return []string{"no control-plane node has the label ingress-ready=true"}
}

func mapsPort(node config.Node, port int32) bool {
	for _, m := range node.ExtraPortMappings {
		if m.HostPort == port && m.ContainerPort == port && m.Protocol == config.PortMappingProtocolTCP {
			return true
		}
	}
	return false
}
