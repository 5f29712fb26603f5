// Command cr-copier is the controller-runtime peer of `crdsync bench --peers`: the copier a Go shop would write
// itself instead of running crdsync, doing the job of the benchmark's crdsync rule (toHost, one kind) and no more.
//
// Job: watch one custom resource kind in every namespace of the virtual cluster (one manager on the virtual
// kubeconfig) and keep a copy of each object in the tenant's host namespace (a second cluster on the host kubeconfig,
// its cache limited to that namespace), named exactly as crdsync names it (readable prefix + 16 base32 characters of
// SHA-256 over the JSON triple [vcluster, namespace, name]) and carrying the same bookkeeping labels and annotations,
// so every peer stores the same bytes. The copy's spec is the source's; the copy's status is copied back to the
// source's status subresource; a source that is gone takes its copy with it. Objects are unstructured, so no
// generated types are needed. Writes: Create for a new copy, a JSON merge patch when the copy's spec, labels or
// annotations differ from what they should be, a merge patch of the source's status when the copy's status differs;
// nothing when a pair is already in sync (a restart writes nothing).
//
// Left out on purpose (crdsync does these; a minimal copier does not): mapping files, patches and references, other
// kinds, fromHost rules, the tenant boundary checks (provenance from bookkeeping, ownership of host objects, shape
// limits), conflict policies, finalizers/orphaning, Events, metrics and health endpoints, leader election, and
// mirroring the CRD into the virtual cluster (the benchmark's setup has already done that).
//
// Fairness: MaxConcurrentReconciles is crdsync's worker count (--workers), client-side rate limiting is off (QPS -1)
// as crdsync has none (controller-runtime's default of 20 requests/s would measure the limiter, not the copier), and
// unstructured reads come from the caches (Cache.Unstructured), as typed reads would.
//
// Failure modes: bad flags or kubeconfigs exit 2 at start; a manager that cannot start (API unreachable, the kind
// not served) exits 1; a failed reconcile is logged and retried with controller-runtime's backoff. SIGTERM/SIGINT
// stop it cleanly with exit 0.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// crdsync's default naming (maxLength 63, hashLength 16) and bookkeeping keys.
const (
	maxLength  = 63
	hashLength = 16
	separator  = "-x-"
	prefix     = "crdsync.io/"
)

var notLabelChar = regexp.MustCompile(`[^a-z0-9-]`)

// logf prints one line in crdsync's log format ("2006-01-02 15:04:05,000 LEVEL name: message"), so the benchmark
// reads every peer's log the same way.
func logf(level, format string, args ...any) {
	now := time.Now()
	fmt.Fprintf(os.Stderr, "%s,%03d %s cr-copier: %s\n", now.Format("2006-01-02 15:04:05"), now.Nanosecond()/1e6,
		level, fmt.Sprintf(format, args...))
}

// hostName is crdsync.translate.names.host_name for a namespaced object under the default naming.
func hostName(vcluster, namespace, name string) string {
	// The JSON encodings agree with Python's json.dumps(separators=(",", ":")) for DNS names (no <, >, & or non-ASCII).
	encoded, _ := json.Marshal([]string{vcluster, namespace, name})
	sum := sha256.Sum256(encoded)
	digest := strings.ToLower(base32.StdEncoding.EncodeToString(sum[:]))[:hashLength]
	readable := notLabelChar.ReplaceAllString(strings.ToLower(name+separator+namespace+separator+vcluster), "-")
	if budget := maxLength - hashLength - 1; len(readable) > budget {
		readable = readable[:budget]
	}
	readable = strings.Trim(readable, "-")
	if readable == "" {
		return digest
	}
	return readable + "-" + digest
}

type copier struct {
	virtual, host client.Client // the managers' cached clients: reads from informers, writes to the apiservers
	gvk           schema.GroupVersionKind
	vcluster      string
	hostNamespace string
}

func (c *copier) empty() *unstructured.Unstructured {
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(c.gvk)
	return obj
}

// desired is the host copy of src: its spec, its labels plus crdsync's, crdsync's annotations.
func (c *copier) desired(src *unstructured.Unstructured) *unstructured.Unstructured {
	out := c.empty()
	out.SetName(hostName(c.vcluster, src.GetNamespace(), src.GetName()))
	out.SetNamespace(c.hostNamespace)
	labels := map[string]string{}
	for k, v := range src.GetLabels() {
		labels[k] = v
	}
	labels[prefix+"managed-by"] = "crdsync"
	labels[prefix+"vcluster"] = c.vcluster
	labels[prefix+"role"] = "copy"
	out.SetLabels(labels)
	out.SetAnnotations(map[string]string{
		prefix + "source-side":       "virtual",
		prefix + "source-kind":       c.gvk.Group + "/" + c.gvk.Kind,
		prefix + "source-name":       src.GetName(),
		prefix + "source-namespace":  src.GetNamespace(),
		prefix + "source-uid":        string(src.GetUID()),
		prefix + "source-generation": strconv.FormatInt(src.GetGeneration(), 10),
	})
	if spec, ok := src.Object["spec"]; ok {
		out.Object["spec"] = runtimeDeepCopy(spec)
	}
	return out
}

func runtimeDeepCopy(value any) any {
	return (&unstructured.Unstructured{Object: map[string]any{"v": value}}).DeepCopy().Object["v"]
}

func (c *copier) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	key := types.NamespacedName{Namespace: c.hostNamespace, Name: hostName(c.vcluster, req.Namespace, req.Name)}
	current := c.empty()
	err := c.host.Get(ctx, key, current)
	if err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, err
	}
	exists := err == nil

	src := c.empty()
	if err := c.virtual.Get(ctx, req.NamespacedName, src); err != nil {
		if !apierrors.IsNotFound(err) {
			return reconcile.Result{}, err
		}
		if exists { // the source is gone: so goes its copy
			return reconcile.Result{}, client.IgnoreNotFound(c.host.Delete(ctx, current))
		}
		return reconcile.Result{}, nil
	}

	want := c.desired(src)
	if !exists {
		// AlreadyExists: our own earlier create, not in the cache yet; its watch event brings the key back.
		if err := c.host.Create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
			return reconcile.Result{}, err
		}
		return reconcile.Result{}, nil
	}
	if !equality.Semantic.DeepEqual(want.Object["spec"], current.Object["spec"]) ||
		!equality.Semantic.DeepEqual(want.GetLabels(), current.GetLabels()) ||
		!equality.Semantic.DeepEqual(want.GetAnnotations(), current.GetAnnotations()) {
		patched := current.DeepCopy()
		patched.Object["spec"] = want.Object["spec"]
		patched.SetLabels(want.GetLabels())
		patched.SetAnnotations(want.GetAnnotations())
		if err := c.host.Patch(ctx, patched, client.MergeFrom(current)); err != nil {
			return reconcile.Result{}, err
		}
	}
	status, has := current.Object["status"]
	if has && !equality.Semantic.DeepEqual(status, src.Object["status"]) {
		back := src.DeepCopy()
		back.Object["status"] = runtimeDeepCopy(status)
		if err := c.virtual.Status().Patch(ctx, back, client.MergeFrom(src)); err != nil {
			return reconcile.Result{}, err
		}
	}
	return reconcile.Result{}, nil
}

func restConfig(path string) (*rest.Config, error) {
	config, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, err
	}
	config.QPS = -1 // no client-side rate limiter (see the package comment)
	config.UserAgent = "cr-copier"
	return config, nil
}

func main() {
	virtualPath := flag.String("virtual-kubeconfig", "", "kubeconfig of the virtual cluster (sources)")
	hostPath := flag.String("host-kubeconfig", "", "kubeconfig of the host cluster (copies)")
	hostNamespace := flag.String("host-namespace", "", "the tenant's host namespace")
	vcluster := flag.String("vcluster", "", "the virtual cluster's name (part of every host name)")
	workers := flag.Int("workers", 32, "MaxConcurrentReconciles (crdsync run's default is 32)")
	group := flag.String("group", "bench.crdsync.io", "API group of the kind to copy")
	version := flag.String("version", "v1", "API version of the kind to copy")
	kind := flag.String("kind", "Item", "the kind to copy")
	flag.Parse()
	if *virtualPath == "" || *hostPath == "" || *hostNamespace == "" || *vcluster == "" || *workers < 1 {
		fmt.Fprintln(os.Stderr, "cr-copier: --virtual-kubeconfig, --host-kubeconfig, --host-namespace and --vcluster"+
			" are required; --workers must be at least 1")
		os.Exit(2)
	}
	var logger logr.Logger = funcr.New(func(prefix, args string) { logf("INFO", "%s %s", prefix, args) },
		funcr.Options{})
	ctrl.SetLogger(logger)

	virtualConfig, err := restConfig(*virtualPath)
	if err != nil {
		logf("ERROR", "%s: %v", *virtualPath, err)
		os.Exit(2)
	}
	hostConfig, err := restConfig(*hostPath)
	if err != nil {
		logf("ERROR", "%s: %v", *hostPath, err)
		os.Exit(2)
	}
	// Unstructured reads from the informer caches, as typed ones are: controller-runtime's client otherwise sends
	// every Get of an unstructured object to the apiserver (two GETs per reconcile, measured), which no Go shop that
	// noticed would keep.
	// One CacheOptions each: controller-runtime stores the cache to read from in them, so a shared one would make the
	// host client read from the virtual cluster's cache.
	cached := func() client.Options { return client.Options{Cache: &client.CacheOptions{Unstructured: true}} }
	manager, err := ctrl.NewManager(virtualConfig, ctrl.Options{
		Client:                 cached(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		logf("ERROR", "virtual manager: %v", err)
		os.Exit(1)
	}
	host, err := cluster.New(hostConfig, func(o *cluster.Options) {
		o.Cache.DefaultNamespaces = map[string]cache.Config{*hostNamespace: {}}
		o.Client = cached()
	})
	if err != nil {
		logf("ERROR", "host cluster: %v", err)
		os.Exit(1)
	}
	if err := manager.Add(host); err != nil {
		logf("ERROR", "host cluster: %v", err)
		os.Exit(1)
	}
	c := &copier{
		virtual:       manager.GetClient(),
		host:          host.GetClient(),
		gvk:           schema.GroupVersionKind{Group: *group, Version: *version, Kind: *kind},
		vcluster:      *vcluster,
		hostNamespace: *hostNamespace,
	}
	// A host copy's events (its status, mostly) reconcile its source, found from the copy's annotations.
	toSource := handler.TypedEnqueueRequestsFromMapFunc(
		func(_ context.Context, hostCopy *unstructured.Unstructured) []reconcile.Request {
			annotations := hostCopy.GetAnnotations()
			name, namespace := annotations[prefix+"source-name"], annotations[prefix+"source-namespace"]
			if name == "" || namespace == "" {
				return nil
			}
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: namespace, Name: name}}}
		})
	err = ctrl.NewControllerManagedBy(manager).
		Named("cr-copier").
		For(c.empty()).
		WatchesRawSource(source.Kind(host.GetCache(), c.empty(), toSource)).
		WithOptions(controller.Options{MaxConcurrentReconciles: *workers}).
		Complete(c)
	if err != nil {
		logf("ERROR", "controller: %v", err)
		os.Exit(1)
	}
	logf("INFO", "copying %s from every virtual namespace to host namespace %s with %d workers", c.gvk.String(),
		*hostNamespace, *workers)
	if err := manager.Start(ctrl.SetupSignalHandler()); err != nil {
		logf("ERROR", "manager: %v", err)
		os.Exit(1)
	}
	logf("INFO", "stopped")
}
