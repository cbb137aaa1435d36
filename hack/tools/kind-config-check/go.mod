// The module path sits under sigs.k8s.io/kind/pkg on purpose: Go allows an import of a package
// under ".../pkg/internal" only from import paths below ".../pkg", and kind's config loader and
// validation are internal. This lets the check run kind's own code instead of a copy of it.
module sigs.k8s.io/kind/pkg/cloudronoperatorcheck

go 1.24

require sigs.k8s.io/kind v0.33.0

require (
	github.com/pkg/errors v0.9.1 // indirect
	go.yaml.in/yaml/v3 v3.0.4 // indirect
)
