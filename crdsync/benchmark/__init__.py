"""Benchmark helpers behind `crdsync bench`: pure parsing and report code, plus the cluster and process IO it needs."""
