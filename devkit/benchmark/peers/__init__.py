"""The peers `python -m devkit bench --peers` measures crdsync against: what users would write instead of crdsync.

runner.py drives the side-by-side run, report.py renders it (pure), kopf_copier.py is the kopf peer (run as a child
process); the controller-runtime peer is Go, in devkit/devplane/go/cr-copier/, built through devkit.devplane.build.
"""
