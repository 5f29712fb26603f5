"""Real local control planes for development and end-to-end tests.

build     find or build etcd and kube-apiserver from the pinned Go modules under go/ (cached, locked, atomic)
launcher  start one etcd and a kube-apiserver per plane (`host`, `virtual`, more on demand), stop them reliably
pki, render, process: the throwaway PKI, the pure command lines/kubeconfigs/state, and child-process plumbing.

Nothing here is imported by crdsync; it serves devkit.commands (`python -m devkit up|down|build|demo|bench`) and
the tests.
"""
