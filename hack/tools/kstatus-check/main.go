// kstatus-check computes the kstatus reading of Kubernetes objects with Flux's kstatus library
// (github.com/fluxcd/cli-utils/pkg/kstatus/status), the code a Flux Kustomization with `wait: true`
// or `healthChecks` runs on each object it waits for.
//
// Usage: kstatus-check < objects.json (a JSON array of objects); prints a JSON array of
// {"status": ..., "message": ...}, one per object, in order. Exit 1 when the library fails.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

type result struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	var objects []map[string]any
	if err := json.NewDecoder(os.Stdin).Decode(&objects); err != nil {
		fail(fmt.Errorf("reading objects: %w", err))
	}
	results := make([]result, 0, len(objects))
	for i, obj := range objects {
		// Numbers as the API server's JSON decoder gives them to clients: int64 where whole.
		normalized, err := roundTrip(obj)
		if err != nil {
			fail(fmt.Errorf("object %d: %w", i, err))
		}
		r, err := status.Compute(&unstructured.Unstructured{Object: normalized})
		if err != nil {
			fail(fmt.Errorf("object %d: %w", i, err))
		}
		results = append(results, result{Status: r.Status.String(), Message: r.Message})
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		fail(err)
	}
}

func roundTrip(obj map[string]any) (map[string]any, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		return nil, err
	}
	return u.Object, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "kstatus-check:", err)
	os.Exit(1)
}
