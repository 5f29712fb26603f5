// Command external-secrets-controller runs external-secrets' own ExternalSecret, SecretStore, ClusterSecretStore and
// PushSecret reconcilers, from the pinned upstream module, out of cluster against a kubeconfig, so the local host
// control plane has a real external-secrets without images or Helm.
//
// Upstream's main (cmd/controller/root.go) also starts the webhook, its certificate controller, ClusterExternalSecret,
// ClusterPushSecret and GeneratorState; crdsync never lets tenants reach those, so this file wires only the four
// reconcilers above, with upstream's own defaults (controller class "default", flood gate on, managed-secrets cache).
// Which providers are linked is decided by upstream's blank imports of pkg/provider/register and
// pkg/generator/register inside the controller packages; crdsync/devplane/externalsecrets.py builds this against a
// copy of the module in which those two files import only the in-tree `fake` provider and generator (no network, no
// cloud SDKs: a third of the code to compile). Built against the unmodified module it links every provider and works
// the same.
//
// Failure modes: bad flags or an unreadable kubeconfig exit 2 or 1 with one line on stderr; a reconciler that cannot
// be set up or a manager that fails exits 1. SIGINT/SIGTERM stop the manager and exit 0.
//
// Readiness for callers: --address-file receives the bound health address (host:port) as soon as the listener is up;
// GET /readyz on it answers 200 only once the informers for ExternalSecrets, SecretStores, ClusterSecretStores and
// PushSecrets have synced. Metrics are off unless --metrics-listen-address names an address; leader election is off.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	esv1 "github.com/external-secrets/external-secrets/apis/externalsecrets/v1"
	esv1alpha1 "github.com/external-secrets/external-secrets/apis/externalsecrets/v1alpha1"
	genv1alpha1 "github.com/external-secrets/external-secrets/apis/generators/v1alpha1"
	ctrlcommon "github.com/external-secrets/external-secrets/pkg/controllers/common"
	"github.com/external-secrets/external-secrets/pkg/controllers/externalsecret"
	"github.com/external-secrets/external-secrets/pkg/controllers/externalsecret/esmetrics"
	ctrlmetrics "github.com/external-secrets/external-secrets/pkg/controllers/metrics"
	"github.com/external-secrets/external-secrets/pkg/controllers/pushsecret"
	"github.com/external-secrets/external-secrets/pkg/controllers/pushsecret/psmetrics"
	"github.com/external-secrets/external-secrets/pkg/controllers/secretstore"
	"github.com/external-secrets/external-secrets/pkg/controllers/secretstore/cssmetrics"
	"github.com/external-secrets/external-secrets/pkg/controllers/secretstore/ssmetrics"
	"github.com/external-secrets/external-secrets/pkg/feature"
	// Named here too, so the fake provider is linked whichever way pkg/provider/register was built.
	_ "github.com/external-secrets/external-secrets/pkg/provider/fake"
)

const esoModule = "github.com/external-secrets/external-secrets"

type options struct {
	kubeconfig      string
	workers         int
	healthAddress   string
	addressFile     string
	metricsAddress  string
	controllerClass string
	storeRequeue    time.Duration
	development     bool
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "external-secrets-controller: %v\n", err)
		var usage usageError
		if errors.As(err, &usage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError marks a mistake in the command line (exit 2) as opposed to a failure at run time (exit 1).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func parseFlags(args []string) (*options, error) {
	opts := &options{}
	fs := pflag.NewFlagSet("external-secrets-controller", pflag.ContinueOnError)
	fs.StringVar(&opts.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster to manage (required)")
	fs.IntVar(&opts.workers, "concurrent", 2, "concurrent reconciles per controller")
	fs.StringVar(&opts.healthAddress, "health-listen-address", "127.0.0.1:0",
		"address for /livez and /readyz; port 0 picks a free port (see --address-file)")
	fs.StringVar(&opts.addressFile, "address-file", "", "file to write the bound health address to")
	fs.StringVar(&opts.metricsAddress, "metrics-listen-address", "0",
		`address for Prometheus metrics, e.g. 127.0.0.1:0; "0" turns them off`)
	fs.StringVar(&opts.controllerClass, "controller-class", "default",
		"act only on stores whose spec.controller is empty or this (upstream's flag)")
	fs.DurationVar(&opts.storeRequeue, "store-requeue-interval", 5*time.Minute,
		"how often (Cluster)SecretStores are revalidated (upstream's default)")
	fs.BoolVar(&opts.development, "development-logs", false, "human-readable debug logs instead of JSON")
	// Flags that upstream features (e.g. provider options) register, so their defaults apply as upstream's do.
	for _, f := range feature.Features() {
		if f.Flags != nil {
			fs.AddFlagSet(f.Flags)
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err}
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Errorf("unexpected arguments: %v", fs.Args())}
	}
	if opts.kubeconfig == "" {
		return nil, usageError{errors.New("--kubeconfig is required (this binary runs out of cluster only)")}
	}
	if opts.workers < 1 {
		return nil, usageError{fmt.Errorf("--concurrent must be at least 1, got %d", opts.workers)}
	}
	return opts, nil
}

// linkedVersion is the external-secrets module version this binary was built from, for the log.
func linkedVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == esoModule {
				if dep.Replace != nil && dep.Replace.Version != "" {
					return dep.Replace.Version
				}
				return dep.Version
			}
		}
	}
	return "unknown"
}

func newScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(apiextensionsv1.AddToScheme(scheme))
	utilruntime.Must(esv1.AddToScheme(scheme))
	utilruntime.Must(esv1alpha1.AddToScheme(scheme))
	utilruntime.Must(genv1alpha1.AddToScheme(scheme))
	return scheme
}

func run(args []string) error {
	opts, err := parseFlags(args)
	if err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseDevMode(opts.development)))
	log := ctrl.Log.WithName("setup")

	config, err := clientcmd.BuildConfigFromFlags("", opts.kubeconfig)
	if err != nil {
		return fmt.Errorf("loading --kubeconfig %s: %w", opts.kubeconfig, err)
	}
	// Upstream's defaults (--client-qps/--client-burst).
	config.QPS, config.Burst = 50, 100

	healthLn, err := net.Listen("tcp", opts.healthAddress)
	if err != nil {
		return fmt.Errorf("listening on --health-listen-address %s: %w", opts.healthAddress, err)
	}
	defer func() { _ = healthLn.Close() }()
	if opts.addressFile != "" {
		if err := writeFileAtomic(opts.addressFile, healthLn.Addr().String()+"\n"); err != nil {
			return err
		}
	}

	ctrlmetrics.SetUpLabelNames(false)
	esmetrics.SetUpMetrics()
	ssmetrics.SetUpMetrics()
	cssmetrics.SetUpMetrics()
	psmetrics.SetUpMetrics()

	mgr, err := ctrl.NewManager(config, ctrl.Options{
		Scheme:  newScheme(),
		Metrics: metricsserver.Options{BindAddress: opts.metricsAddress},
		// As upstream without --enable-secrets-caching: Secrets and ConfigMaps are read live, except the Secrets
		// external-secrets manages (the managed-secrets client below), so memory does not grow with the cluster.
		Client: client.Options{Cache: &client.CacheOptions{
			DisableFor: []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}},
		}},
		HealthProbeBindAddress: "0", // ours below, on the listener whose address callers learn
		LeaderElection:         false,
	})
	if err != nil {
		return fmt.Errorf("creating the controller manager: %w", err)
	}
	secretClient, err := ctrlcommon.BuildManagedSecretClient(mgr, "")
	if err != nil {
		return fmt.Errorf("creating the managed-secrets client: %w", err)
	}
	controllerOptions := func() controller.Options {
		return controller.Options{MaxConcurrentReconciles: opts.workers, RateLimiter: ctrlcommon.BuildRateLimiter()}
	}
	setups := []struct {
		name  string
		setup func() error
	}{
		{"SecretStore", func() error {
			return (&secretstore.StoreReconciler{
				Client: mgr.GetClient(), Log: ctrl.Log.WithName("controllers").WithName("SecretStore"),
				Scheme: mgr.GetScheme(), ControllerClass: opts.controllerClass, RequeueInterval: opts.storeRequeue,
			}).SetupWithManager(mgr, controllerOptions())
		}},
		{"ClusterSecretStore", func() error {
			return (&secretstore.ClusterStoreReconciler{
				Client: mgr.GetClient(), Log: ctrl.Log.WithName("controllers").WithName("ClusterSecretStore"),
				Scheme: mgr.GetScheme(), ControllerClass: opts.controllerClass, RequeueInterval: opts.storeRequeue,
			}).SetupWithManager(mgr, controllerOptions())
		}},
		{"ExternalSecret", func() error {
			return (&externalsecret.Reconciler{
				Client: mgr.GetClient(), SecretClient: secretClient,
				Log:    ctrl.Log.WithName("controllers").WithName("ExternalSecret"),
				Scheme: mgr.GetScheme(), RestConfig: mgr.GetConfig(), ControllerClass: opts.controllerClass,
				RequeueInterval: time.Hour, ClusterSecretStoreEnabled: true, EnableFloodGate: true,
			}).SetupWithManager(mgr, controllerOptions())
		}},
		{"PushSecret", func() error {
			return (&pushsecret.Reconciler{
				Client: mgr.GetClient(), Log: ctrl.Log.WithName("controllers").WithName("PushSecret"),
				Scheme: mgr.GetScheme(), ControllerClass: opts.controllerClass, RestConfig: mgr.GetConfig(),
				RequeueInterval: time.Hour,
			}).SetupWithManager(mgr, controllerOptions())
		}},
	}
	for _, s := range setups {
		if err := s.setup(); err != nil {
			return fmt.Errorf("setting up the %s controller: %w", s.name, err)
		}
	}
	for _, f := range feature.Features() {
		if f.Initialize != nil {
			f.Initialize()
		}
	}

	var ready atomic.Bool
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		// GetInformer blocks until that informer has synced: the kinds every reconciler here watches.
		for _, obj := range []client.Object{&esv1.ExternalSecret{}, &esv1.SecretStore{}, &esv1.ClusterSecretStore{},
			&esv1alpha1.PushSecret{}} {
			if _, err := mgr.GetCache().GetInformer(ctx, obj); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("waiting for the %T informer: %w", obj, err)
			}
		}
		ready.Store(true)
		log.Info("controllers started and caches synced")
		<-ctx.Done()
		return nil
	})); err != nil {
		return fmt.Errorf("adding the readiness check: %w", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	healthServer := &http.Server{Handler: healthMux(&ready), ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- serveUntilDone(ctx, healthServer, healthLn) }()
	log.Info("starting external-secrets controllers", "version", linkedVersion(), "kubeconfig", opts.kubeconfig,
		"health", healthLn.Addr().String())

	err = mgr.Start(ctx)
	stop()
	if serr := <-serveErr; serr != nil && err == nil {
		err = fmt.Errorf("health server: %w", serr)
	}
	if err != nil {
		return fmt.Errorf("running the controller manager: %w", err)
	}
	log.Info("stopped")
	return nil
}

func healthMux(ready *atomic.Bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/livez", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "controllers starting", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

func serveUntilDone(ctx context.Context, server *http.Server, ln net.Listener) error {
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = server.Shutdown(shutdownCtx) //nolint:contextcheck // the serving context is already done here
	}()
	if err := server.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func writeFileAtomic(path, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".address-*")
	if err != nil {
		return fmt.Errorf("writing --address-file: %w", err)
	}
	_, werr := tmp.WriteString(content)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("writing --address-file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("writing --address-file: %w", err)
	}
	return nil
}
