"""crdsync: declarative, generic custom-resource sync between a virtual cluster and its host cluster.

Layers, each importing only from the ones above it in this list:
spec (mapping model, loading) -> translate (pure rules) -> kube (cluster IO) -> engine (reconciler) -> cli.
"""

__version__ = "0.1.0"
