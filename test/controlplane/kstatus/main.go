// Command kstatus prints what sigs.k8s.io/cli-utils/pkg/kstatus computes for objects: the
// status GitOps tools (Flux's health checks, kpt, `kubectl apply --wait`-style waiters) read
// from an object. Built beside the control plane so tests can ask the same question Flux asks.
//
// Usage:
//
//	kstatus [--kubeconfig FILE] REF...   REF is APIVERSION/KIND/NAMESPACE/NAME, e.g.
//	                                     relayoperator.io/v1alpha1/RelayHub/mail/hub-a,
//	                                     apps/v1/StatefulSet/mail/hub-a, v1/Namespace//mail
//	kstatus -                            objects as JSON on stdin: one object, a JSON array,
//	                                     or a List ({"items": [...]}); no cluster is read
//
// Output: a JSON array, one entry per object in argument order:
// {"apiVersion","kind","namespace","name","status","message"} where status is one of
// Current, InProgress, Failed, Terminating, NotFound, Unknown. Exit 0 when every object could be
// judged (whatever its status), 1 on a read error (the entry says Unknown with the error), 2 on
// usage errors.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type entry struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	Status     string `json:"status"`
	Message    string `json:"message"`
}

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file (default $KUBECONFIG)")
	timeout := flag.Duration("timeout", 30*time.Second, "overall deadline for reading the objects")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: kstatus [--kubeconfig FILE] APIVERSION/KIND/NAMESPACE/NAME... | kstatus -")
		flag.PrintDefaults()
	}
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 {
		flag.Usage()
		os.Exit(2)
	}
	var out []entry
	failed := false
	if len(args) == 1 && args[0] == "-" {
		objects, err := readObjects(os.Stdin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kstatus:", err)
			os.Exit(2)
		}
		for _, u := range objects {
			out = append(out, compute(u))
		}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		defer cancel()
		var err error
		out, failed, err = fromCluster(ctx, *kubeconfig, args)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kstatus:", err)
			os.Exit(2)
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		os.Exit(1)
	}
	if failed {
		os.Exit(1)
	}
}

// compute runs kstatus on one object. An error from kstatus (a malformed status) is reported as
// Unknown with the error as message, the way kstatus' own pollers report it.
func compute(u *unstructured.Unstructured) entry {
	e := entry{APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()}
	result, err := status.Compute(u)
	if err != nil {
		e.Status, e.Message = status.UnknownStatus.String(), err.Error()
		return e
	}
	e.Status, e.Message = result.Status.String(), result.Message
	return e
}

type ref struct {
	gv        schema.GroupVersion
	kind      string
	namespace string
	name      string
}

// parseRef splits APIVERSION/KIND/NAMESPACE/NAME from the right: the apiVersion may hold a
// slash (apps/v1) or not (v1).
func parseRef(s string) (ref, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 4 || len(parts) > 5 {
		return ref{}, fmt.Errorf("%q: want APIVERSION/KIND/NAMESPACE/NAME", s)
	}
	n := len(parts)
	gv, err := schema.ParseGroupVersion(strings.Join(parts[:n-3], "/"))
	if err != nil {
		return ref{}, fmt.Errorf("%q: %w", s, err)
	}
	r := ref{gv: gv, kind: parts[n-3], namespace: parts[n-2], name: parts[n-1]}
	if r.kind == "" || r.name == "" {
		return ref{}, fmt.Errorf("%q: kind and name must not be empty", s)
	}
	return r, nil
}

func fromCluster(ctx context.Context, kubeconfig string, args []string) ([]entry, bool, error) {
	refs := make([]ref, 0, len(args))
	for _, a := range args {
		r, err := parseRef(a)
		if err != nil {
			return nil, false, err
		}
		refs = append(refs, r)
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	config, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, false, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return nil, false, err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		return nil, false, err
	}
	var out []entry
	failed := false
	for _, r := range refs {
		e := entry{APIVersion: r.gv.String(), Kind: r.kind, Namespace: r.namespace, Name: r.name}
		mapping, err := mapper.RESTMapping(r.gv.WithKind(r.kind).GroupKind(), r.gv.Version)
		if err != nil {
			e.Status, e.Message, failed = status.UnknownStatus.String(), err.Error(), true
			out = append(out, e)
			continue
		}
		var resource dynamic.ResourceInterface = client.Resource(mapping.Resource)
		if r.namespace != "" {
			resource = client.Resource(mapping.Resource).Namespace(r.namespace)
		}
		u, err := resource.Get(ctx, r.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			// kstatus' own pollers say NotFound for an object that does not exist; Compute
			// needs an object, so the status is decided here.
			e.Status, e.Message = status.NotFoundStatus.String(), "Resource not found"
		case err != nil:
			e.Status, e.Message, failed = status.UnknownStatus.String(), err.Error(), true
		default:
			e = compute(u)
		}
		out = append(out, e)
	}
	return out, failed, nil
}

// readObjects accepts one object, a JSON array of objects or a List with items. Numbers are
// decoded as the API machinery does (whole numbers as int64): kstatus reads metadata.generation
// with NestedInt64, which refuses encoding/json's float64.
func readObjects(r io.Reader) ([]*unstructured.Unstructured, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var raw []map[string]interface{}
	trimmed := strings.TrimSpace(string(data))
	if strings.HasPrefix(trimmed, "[") {
		if err := utiljson.Unmarshal(data, &raw); err != nil {
			return nil, err
		}
	} else {
		var one map[string]interface{}
		if err := utiljson.Unmarshal(data, &one); err != nil {
			return nil, err
		}
		if items, ok := one["items"].([]interface{}); ok {
			for i, it := range items {
				m, ok := it.(map[string]interface{})
				if !ok {
					return nil, fmt.Errorf("items[%d] is not an object", i)
				}
				raw = append(raw, m)
			}
		} else {
			raw = append(raw, one)
		}
	}
	if len(raw) == 0 {
		return nil, errors.New("no objects on stdin")
	}
	objects := make([]*unstructured.Unstructured, 0, len(raw))
	for _, m := range raw {
		objects = append(objects, &unstructured.Unstructured{Object: m})
	}
	return objects, nil
}
