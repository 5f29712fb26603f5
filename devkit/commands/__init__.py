"""The developer subcommands of `python -m devkit`, in crdsync.commands' convention (add_arguments + run per module).

up, down and build share one module (planes), as they share the local planes' options and errors.
"""

from __future__ import annotations

# name -> (module, one-line help), as crdsync.commands.COMMANDS.
COMMANDS: dict[str, tuple[str, str]] = {
    "up": ("devkit.commands.up", "start etcd and the host and virtual kube-apiservers"),
    "down": ("devkit.commands.down", "stop planes started with `up` in a directory"),
    "build": ("devkit.commands.build", "build (or find) etcd, kube-apiserver and the cert-manager controller"),
    "demo": ("devkit.commands.demo", "use the host's cert-manager from a virtual cluster, on local control planes"),
    "bench": ("devkit.commands.bench", "measure sync speed against the apiserver's own write limit"),
}
