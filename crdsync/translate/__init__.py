"""crdsync.translate: the pure translation rules, plain dicts in and out, no cluster IO."""
