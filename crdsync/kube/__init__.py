"""crdsync.kube: cluster IO, dicts in and out.

client (KubeClient, Resource: discovery, list/watch, server-side apply and other writes), errors (ApiError and one
subclass per status the engine handles), informer (list+watch cache with indexes), events (aggregated core/v1 Events),
lease (Lease-based leader election). Nothing here imports from crdsync.engine or crdsync.cli.
"""
