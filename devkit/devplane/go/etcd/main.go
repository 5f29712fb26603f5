// Command etcd runs the upstream etcd server, unchanged, from the pinned module version Kubernetes itself uses.
//
// crdsync builds it locally (crdsync/devplane/build.py) as the storage of its local control planes.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
