"""Benchmark helpers behind `python -m devkit bench`: pure parsing and report code, plus the cluster and process IO it
needs (procs and cluster are also the e2e harness: crdsync as a child process, CRDs, waits)."""
