"""crdsync.kube: cluster IO, dicts in and out.

client (KubeClient: the verbs, from list/watch to server-side apply), resource (Resource: a served kind and its
paths), discovery (which resource serves a kind, cached), transport (pool, credentials, rate limit, retries, write
gate), watch (the watch stream), decode (bodies and watch events into dicts, at any depth), errors (ApiError and one
subclass per status the engine handles), kubeconfig and incluster (where credentials come from), informer (list+watch
cache of one resource), events (aggregated core/v1 Events), lease (Lease-based leader election).
From the rest of crdsync it imports only crdsync.gvk (and the version): never spec, translate or anything above.
"""
