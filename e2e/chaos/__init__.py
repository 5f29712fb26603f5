"""The fault-injection suite: crdsync, the apiservers, etcd and the network fail while tenants keep changing objects.

`python -m e2e.chaos` (`make chaos`) runs the full suite (default 12 minutes of faults on 2 cores); `run.Chaos` with a
short `Plan` is what e2e/test_chaos_short.py runs inside `make test`. One run, with a seed printed for replay:

- real local planes (etcd, host and virtual kube-apiservers, each with an audit log of every write and no watch
  cache for the synced kinds, so an etcd compaction reaches watchers as 410 Gone), toxiproxy between crdsync and each
  apiserver, three crdsync replicas with --leader-elect (short lease), a tiny operator on the host (workload.py);
- cycles of churn (tenants create, update spec, labels and referenced Secrets, flip selection, delete) during which
  faults are injected alone, then mixed; after each cycle the churn stops, the faults heal and the time until the
  planes converge is measured (checks.py decides convergence from the apiservers' own state only);
- at the end every invariant is checked: the host holds exactly the copies the final virtual state implies (none
  lost, duplicated, orphaned), every copy has the latest spec, every source the latest status, every referenced
  Secret is exported or imported with its latest data; zero writes after convergence (apiserver_request_total,
  leases excluded); no write by a replica while another held the Lease (audit logs); RSS does not grow;
- figures printed and written as JSON (faults per kind, convergence time after the last fault p50/p99, objects
  checked, lost/duplicated/orphaned, writes after convergence, RSS start/end).

Failure modes: an invariant that does not hold raises `InvariantFailed` with the figures so far (and the JSON is still
written); a plane or replica that cannot be started raises from the launcher; every process started here is stopped on
the way out, whatever happens.
"""
