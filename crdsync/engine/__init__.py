"""crdsync.engine: the reconciler that composes the pure rules (translate) with cluster IO (kube) into a controller."""
