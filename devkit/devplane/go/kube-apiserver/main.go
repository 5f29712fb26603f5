// Command kube-apiserver runs the upstream Kubernetes API server, unchanged, from a pinned module version.
//
// crdsync builds it locally (crdsync/devplane/build.py) so the end-to-end tests and `crdsync dev` run real control
// planes without downloading release binaries. The version reported by /version is set with -ldflags at build time.
package main

import (
	"os"
	_ "time/tzdata" // upstream embeds it for CronJob time zones; kept for parity with the release binary

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json, as upstream
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics on /metrics, as upstream
	_ "k8s.io/component-base/metrics/prometheus/version"  // kubernetes_build_info on /metrics
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
