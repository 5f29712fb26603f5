// Command cert-manager-controller runs cert-manager's own controllers, from the pinned upstream module, out of cluster
// against a kubeconfig, so the local host control plane has a real cert-manager without images or Helm.
//
// Upstream's cmd/controller is a separate Go module that the module proxy does not serve, so this file replays the
// minimum of its app wiring (cmd/controller/app/controller.go): build a controller.ContextFactory, construct the
// registered controllers we enable, start the shared informer factories, optionally hold a Lease. Only the issuer
// types the dev planes need (SelfSigned, CA) are linked in; ACME, Vault, Venafi, the ingress/gateway shims and the
// CertificateSigningRequest controllers are left out, as is the webhook (nothing here needs defaulting or conversion).
//
// Failure modes: bad flags or an unreachable kubeconfig exit 2 or 1 with one line on stderr; a controller that fails
// to start or a lost Lease exits 1. SIGINT/SIGTERM stop the controllers and exit 0.
//
// Readiness for callers: --address-file receives the bound health address (host:port) as soon as the listener is up;
// GET /readyz on it answers 200 only once every controller is constructed and all informer caches have synced.
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
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	logsapi "k8s.io/component-base/logs/api/v1"

	cmcontroller "github.com/cert-manager/cert-manager/pkg/controller"
	crapprover "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	crca "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	crselfsigned "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	certmetrics "github.com/cert-manager/cert-manager/pkg/controller/certificates/metrics"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	"github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	"github.com/cert-manager/cert-manager/pkg/controller/issuers"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"         // registers the CA issuer with the issuer factory
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned" // registers the SelfSigned issuer
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	cmutil "github.com/cert-manager/cert-manager/pkg/util"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"
)

const certManagerModule = "github.com/cert-manager/cert-manager"

// enabledControllers is upstream's DefaultEnabledControllers restricted to what SelfSigned and CA issuance needs.
// The approver matters: signers wait for the Approved condition, and without a policy engine only it sets it.
var enabledControllers = []string{
	issuers.ControllerName,
	clusterissuers.ControllerName,
	crapprover.ControllerName,
	crselfsigned.CRControllerName,
	crca.CRControllerName,
	trigger.ControllerName,
	issuing.ControllerName,
	keymanager.ControllerName,
	requestmanager.ControllerName,
	readiness.ControllerName,
	revisionmanager.ControllerName,
}

type options struct {
	kubeconfig               string
	clusterResourceNamespace string
	workers                  int
	healthAddress            string
	addressFile              string
	metricsAddress           string
	leaderElect              bool
	leaderElectionNamespace  string
	crMinBackoff             time.Duration
	crMaxBackoff             time.Duration
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			os.Exit(0)
		}
		var usage usageError
		fmt.Fprintf(os.Stderr, "cert-manager-controller: %v\n", err)
		logf.FlushLogs()
		if errors.As(err, &usage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
	logf.FlushLogs()
}

// usageError marks a mistake in the command line (exit 2) as opposed to a failure at run time (exit 1).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func parseFlags(args []string) (*options, error) {
	opts := &options{}
	logging := logsapi.NewLoggingConfiguration()
	fs := pflag.NewFlagSet("cert-manager-controller", pflag.ContinueOnError)
	fs.StringVar(&opts.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster to manage (required)")
	fs.StringVar(&opts.clusterResourceNamespace, "cluster-resource-namespace", "cert-manager",
		"namespace holding the Secrets that ClusterIssuers refer to (upstream's flag of the same name)")
	fs.IntVar(&opts.workers, "concurrent-workers", 5, "workers per controller")
	fs.StringVar(&opts.healthAddress, "health-listen-address", "127.0.0.1:0",
		"address for /livez and /readyz; port 0 picks a free port (see --address-file)")
	fs.StringVar(&opts.addressFile, "address-file", "", "write the bound health address (host:port) to this file")
	fs.StringVar(&opts.metricsAddress, "metrics-listen-address", "", "Prometheus metrics address; empty disables")
	fs.BoolVar(&opts.leaderElect, "leader-elect", false, "hold a Lease before starting the controllers")
	fs.StringVar(&opts.leaderElectionNamespace, "leader-election-namespace", "",
		"namespace of the Lease (default: --cluster-resource-namespace)")
	fs.DurationVar(&opts.crMinBackoff, "certificate-request-minimum-backoff-duration", time.Hour,
		"first retry delay after a failed CertificateRequest (upstream default)")
	fs.DurationVar(&opts.crMaxBackoff, "certificate-request-maximum-backoff-duration", 32*time.Hour,
		"longest retry delay after repeated CertificateRequest failures (upstream default)")
	utilfeature.DefaultMutableFeatureGate.AddFlag(fs)
	logf.AddFlagsNonDeprecated(logging, fs)
	if err := fs.Parse(args); err != nil {
		return nil, usageError{err}
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))}
	}
	if opts.kubeconfig == "" {
		return nil, usageError{errors.New("--kubeconfig is required (in-cluster config is not supported)")}
	}
	if opts.workers < 1 {
		return nil, usageError{fmt.Errorf("--concurrent-workers must be at least 1, got %d", opts.workers)}
	}
	if opts.leaderElectionNamespace == "" {
		opts.leaderElectionNamespace = opts.clusterResourceNamespace
	}
	if err := logf.ValidateAndApply(logging); err != nil {
		return nil, usageError{err}
	}
	return opts, nil
}

// stampVersion puts the linked cert-manager version into the user agent and events, as upstream's -ldflags -X does,
// without a second copy of the version next to go.mod.
func stampVersion() {
	info, ok := debug.ReadBuildInfo()
	if !ok || cmutil.AppVersion != "canary" {
		return
	}
	for _, dep := range info.Deps {
		if dep.Path == certManagerModule {
			cmutil.AppVersion = dep.Version
			return
		}
	}
}

func run(args []string) error {
	logf.InitLogs()
	opts, err := parseFlags(args)
	if err != nil {
		return err
	}
	stampVersion()

	rootCtx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rootCtx = logf.NewContext(rootCtx, logf.Log, "controller")
	log := logf.FromContext(rootCtx)
	log.Info("starting cert-manager controllers", "version", cmutil.AppVersion, "kubeconfig", opts.kubeconfig,
		"clusterResourceNamespace", opts.clusterResourceNamespace)

	var ready atomic.Bool
	healthLn, err := net.Listen("tcp", opts.healthAddress)
	if err != nil {
		return fmt.Errorf("listening on --health-listen-address %s: %w", opts.healthAddress, err)
	}
	if opts.addressFile != "" {
		if err := writeFileAtomic(opts.addressFile, healthLn.Addr().String()+"\n"); err != nil {
			_ = healthLn.Close()
			return err
		}
	}

	ctxFactory, err := cmcontroller.NewContextFactory(rootCtx, cmcontroller.ContextOptions{
		Kubeconfig: opts.kubeconfig,
		// Upstream defaults; with API Priority and Fairness on (the default) the factory drops client-side limits.
		KubernetesAPIQPS:   20,
		KubernetesAPIBurst: 50,
		IssuerOptions: cmcontroller.IssuerOptions{
			ClusterResourceNamespace: opts.clusterResourceNamespace,
			// No cloud metadata services on a dev plane; upstream's default of true only matters for ACME/Vault.
			ClusterIssuerAmbientCredentials: false,
		},
		CertificateOptions: cmcontroller.CertificateOptions{
			CopiedAnnotationPrefixes:                 []string{"*", "-kubectl.kubernetes.io/", "-fluxcd.io/", "-argocd.argoproj.io/"},
			CertificateRequestMinimumBackoffDuration: opts.crMinBackoff,
			CertificateRequestMaximumBackoffDuration: opts.crMaxBackoff,
		},
	})
	if err != nil {
		_ = healthLn.Close()
		return fmt.Errorf("building controller context: %w", err)
	}
	base, err := ctxFactory.Build()
	if err != nil {
		_ = healthLn.Close()
		return fmt.Errorf("building controller context: %w", err)
	}

	g, gctx := errgroup.WithContext(rootCtx)
	healthServer := &http.Server{Handler: healthMux(&ready), ReadHeaderTimeout: 10 * time.Second}
	g.Go(func() error { return serveUntilDone(gctx, healthServer, healthLn) })
	log.Info("serving health", "address", healthLn.Addr().String())

	names := slices.Clone(enabledControllers)
	if opts.metricsAddress != "" {
		names = append(names, certmetrics.ControllerName)
		metricsLn, err := net.Listen("tcp", opts.metricsAddress)
		if err != nil {
			return errors.Join(fmt.Errorf("listening on --metrics-listen-address %s: %w", opts.metricsAddress, err),
				stopAndWait(stop, g))
		}
		metricsServer := base.Metrics.NewServer(metricsLn)
		g.Go(func() error { return serveUntilDone(gctx, metricsServer, metricsLn) })
		log.Info("serving metrics", "address", metricsLn.Addr().String())
	}

	if opts.leaderElect {
		if err := waitForLease(gctx, g, ctxFactory, opts); err != nil {
			return errors.Join(err, stopAndWait(stop, g))
		}
	}

	known := cmcontroller.Known()
	for _, name := range names {
		constructor, ok := known[name]
		if !ok {
			return errors.Join(fmt.Errorf("controller %q is not linked into this binary", name), stopAndWait(stop, g))
		}
		ctrl, err := constructor(ctxFactory)
		if err != nil {
			return errors.Join(fmt.Errorf("constructing controller %q: %w", name, err), stopAndWait(stop, g))
		}
		g.Go(func() error {
			if err := ctrl.Run(opts.workers, gctx); err != nil {
				return fmt.Errorf("controller %q: %w", name, err)
			}
			return nil
		})
	}

	base.SharedInformerFactory.Start(gctx.Done())
	base.KubeSharedInformerFactory.Start(gctx.Done())
	base.HTTP01ResourceMetadataInformersFactory.Start(gctx.Done())
	g.Go(func() error {
		if err := allSynced(base.SharedInformerFactory.WaitForCacheSync(gctx.Done())); err != nil {
			return err
		}
		if err := allSynced(base.KubeSharedInformerFactory.WaitForCacheSync(gctx.Done())); err != nil {
			return err
		}
		ready.Store(true)
		log.Info("controllers started and caches synced", "controllers", strings.Join(names, ","))
		return nil
	})

	err = g.Wait()
	base.SharedInformerFactory.Shutdown()
	base.KubeSharedInformerFactory.Shutdown()
	base.HTTP01ResourceMetadataInformersFactory.Shutdown()
	if err != nil && rootCtx.Err() == nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// allSynced turns an informer factory's sync report into an error naming the informers that did not sync, which is
// only the case when the context ended first.
func allSynced[K comparable](synced map[K]bool) error {
	var missing []string
	for informer, ok := range synced {
		if !ok {
			missing = append(missing, fmt.Sprint(informer))
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("informer caches did not sync: %s", strings.Join(missing, ", "))
	}
	return nil
}

func stopAndWait(stop context.CancelFunc, g *errgroup.Group) error {
	stop()
	return g.Wait()
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

// waitForLease blocks until this process holds the Lease; losing it later ends the errgroup with an error, so the
// process exits instead of running two controllers side by side.
func waitForLease(ctx context.Context, g *errgroup.Group, factory *cmcontroller.ContextFactory, opts *options) error {
	leCtx, err := factory.Build("leader-election")
	if err != nil {
		return fmt.Errorf("building leader election client: %w", err)
	}
	host, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("leader election identity: %w", err)
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, opts.leaderElectionNamespace,
		"cert-manager-controller", leCtx.Client.CoreV1(), leCtx.Client.CoordinationV1(),
		resourcelock.ResourceLockConfig{
			Identity:      fmt.Sprintf("%s-%d-external-cert-manager-controller", host, os.Getpid()),
			EventRecorder: leCtx.Recorder,
		})
	if err != nil {
		return fmt.Errorf("creating leader election lock: %w", err)
	}
	elected := make(chan struct{})
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   60 * time.Second,
		RenewDeadline:   40 * time.Second,
		RetryPeriod:     15 * time.Second,
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { close(elected) },
			OnStoppedLeading: func() { logf.FromContext(ctx).Info("no longer holding the Lease") },
		},
	})
	if err != nil {
		return fmt.Errorf("creating leader elector: %w", err)
	}
	g.Go(func() error {
		elector.Run(ctx) // returns once the Lease is lost or the context ends
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("leader election lost")
	})
	select {
	case <-elected:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stopped while waiting for the Lease %s/cert-manager-controller", opts.leaderElectionNamespace)
	}
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
