"""crdsync's developer kit: local control planes, the demo, the benchmarks and the e2e process harness.

Not part of the product: the wheel ships only `crdsync*` (pyproject.toml), so nothing here reaches a cluster. devkit
may import crdsync; crdsync never imports devkit. Run its commands with `python -m devkit COMMAND` (devkit.cli).

devplane   etcd and kube-apiservers on this machine, the Go binaries they need (built once, cached), operators
benchmark  the figures of `python -m devkit bench`, and the crdsync child process and cluster helpers e2e also uses
commands   the developer subcommands: up, down, build, demo, bench
"""
