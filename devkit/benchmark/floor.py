"""The restart floor: how soon a fresh Python process can have listed both sides, doing nothing else.

`python -m devkit.benchmark.floor --host-kubeconfig H --virtual-kubeconfig V --host-namespace NS` starts, imports
crdsync's cluster client (the layer every Python syncer in the benchmark uses: crdsync itself and the raw phase),
discovers the benchmark kind on both sides and lists it on both at once, each in its own thread as crdsync's informers
do, then exits 0 printing the count. The peers benchmark times it from spawn to exit beside each syncer's restart: no
Python syncer can converge sooner, so `floor / list` says how much of a restart ratio is the interpreter's start-up
and not the sync. Deliberately imports nothing else (not even argparse's help texts beyond the three options).

Failure modes: a kind not served or a list that fails exits 1 with the reason on stderr.
"""

from __future__ import annotations

import argparse
import sys
import threading

from crdsync.gvk import GroupVersionKind
from crdsync.kube.client import KubeClient
from crdsync.kube.errors import ApiError, ConfigError

ITEM_GVK = GroupVersionKind("bench.crdsync.io", "v1", "Item")  # devkit.benchmark.cluster's, without its imports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.benchmark.floor")
    parser.add_argument("--host-kubeconfig", required=True)
    parser.add_argument("--virtual-kubeconfig", required=True)
    parser.add_argument("--host-namespace", required=True)
    args = parser.parse_args(argv)
    sides = [(args.virtual_kubeconfig, None), (args.host_kubeconfig, args.host_namespace)]
    counts = [0] * len(sides)
    failures: list[str] = []

    def one(index: int) -> None:
        kubeconfig, namespace = sides[index]
        try:
            client = KubeClient.from_kubeconfig(kubeconfig, None, field_manager="crdsync-bench-floor")
            res = client.resource_for(ITEM_GVK)
            if res is None:
                failures.append(f"{ITEM_GVK} is not served by {kubeconfig}")
                return
            counts[index] = len(client.list(res, namespace, resource_version="0")[0])  # as crdsync's informers list
        except (ApiError, ConfigError, OSError) as exc:
            failures.append(f"{kubeconfig}: {exc}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(sides))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        print("; ".join(failures), file=sys.stderr)
        return 1
    print(sum(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
