"""The kopf peer of `python -m devkit bench --peers`: the copier a Python shop would write with kopf instead of crdsync.

Run as `python -m devkit.benchmark.peers.kopf_copier --virtual-kubeconfig V --host-kubeconfig H --host-namespace NS
--vcluster VC [--workers W]`. It does the job of the benchmark's crdsync rule (toHost, one kind) and no more:

- kopf watches the kind (`--group/--version/--plural`, default the bench's Item) in every namespace of the virtual
  cluster (logged in with the virtual kubeconfig's credentials) and calls one `@kopf.on.event` handler per
  (batched) change; a second client, the `kubernetes` package's, writes to the host;
- the host copy is named exactly as crdsync names it (readable prefix + 16 base32 characters of SHA-256 over the JSON
  triple [vcluster, namespace, name]; `host_name` below) and carries the same bookkeeping labels and annotations, so
  every peer stores the same bytes; its spec is the source's;
- a thread lists and then watches the host namespace (the host-side cache, as controller-runtime keeps one): a copy
  whose status differs from its source's is written back to the source's status subresource; a copy is created when
  absent from that cache, merge-patched when its spec, labels or annotations differ, deleted when its source is; a
  pair already in sync costs no write (a restart writes nothing).

Why `on.event` and not kopf's on.create/on.update/on.resume: those record the last handled state in an annotation of
every source object (a write to the virtual cluster per change, and one more per object at first start), which no
other peer does; the event handler with a host-side cache is the lean way to write it with kopf. kopf's own defaults
stay as they are (its 0.1 s batching window per object among them: it is how kopf debounces changes), except k8s
Event posting (off: crdsync posts none for routine copies) and the handler thread pool, sized like crdsync's workers.

Left out on purpose (crdsync does these; a minimal copier does not): mapping files, patches and references, other
kinds, fromHost rules, the tenant boundary checks (provenance, ownership of host objects, shape limits), conflict
policies, finalizers/orphaning, removing labels from a copy (a merge patch only adds or changes), retries beyond
kopf's and the watch loop's own, metrics, leader election, and mirroring the CRD into the virtual cluster (the
benchmark's setup has done that).

Failure modes: bad arguments exit 2; an unreadable kubeconfig exits 1 with the reason; a failing write is logged and
retried by kopf (for the event handler: on the object's next event) or by the host watch loop (on its next event); a
host watch that expires or breaks is listed and watched again. SIGTERM/SIGINT stop it through kopf with exit 0.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import kopf  # imported by main() only, so the pure parts (naming, the copy) load without the bench extra

JSONDict = dict[str, Any]
PREFIX = "crdsync.io/"
_MAX_LENGTH, _HASH_LENGTH = 63, 16  # crdsync's default naming
_NOT_LABEL_CHAR = re.compile(r"[^a-z0-9-]")
_B32 = "abcdefghijklmnopqrstuvwxyz234567"
_MERGE = "application/merge-patch+json"

log = logging.getLogger("kopf-copier")


def host_name(vcluster: str, namespace: str, name: str) -> str:
    """crdsync.translate.names.host_name for a namespaced object under the default naming (a test keeps them equal)."""
    encoded = json.dumps([vcluster, namespace, name], separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(encoded.encode()).digest()
    bits = _HASH_LENGTH * 5
    value = int.from_bytes(digest[: (bits + 7) // 8], "big") >> ((8 - bits % 8) % 8)
    hashed = "".join(_B32[(value >> shift) & 31] for shift in range(bits - 5, -1, -5))
    readable = _NOT_LABEL_CHAR.sub("-", f"{name}-x-{namespace}-x-{vcluster}".lower())
    readable = readable[: _MAX_LENGTH - _HASH_LENGTH - 1].strip("-")
    return f"{readable}-{hashed}" if readable else hashed


def desired_copy(source: JSONDict, vcluster: str, host_namespace: str, group: str) -> JSONDict:
    """The host copy of a virtual object: its spec, its labels plus crdsync's, crdsync's annotations."""
    meta = source.get("metadata") or {}
    name, namespace = str(meta.get("name")), str(meta.get("namespace"))
    labels = dict(meta.get("labels") or {})
    labels.update({PREFIX + "managed-by": "crdsync", PREFIX + "vcluster": vcluster, PREFIX + "role": "copy"})
    copy: JSONDict = {
        "apiVersion": source.get("apiVersion"),
        "kind": source.get("kind"),
        "metadata": {
            "name": host_name(vcluster, namespace, name),
            "namespace": host_namespace,
            "labels": labels,
            "annotations": {
                PREFIX + "source-side": "virtual",
                PREFIX + "source-kind": f"{group}/{source.get('kind')}",
                PREFIX + "source-name": name,
                PREFIX + "source-namespace": namespace,
                PREFIX + "source-uid": str(meta.get("uid", "")),
                PREFIX + "source-generation": str(meta.get("generation", "")),
            },
        },
    }
    if "spec" in source:
        copy["spec"] = source["spec"]
    return copy


def drift(want: JSONDict, have: JSONDict) -> bool:
    """Whether the copy on the host differs from what it should be in anything the copier writes."""
    want_meta, have_meta = want["metadata"], have.get("metadata") or {}
    return (
        want.get("spec") != have.get("spec")
        or want_meta["labels"] != (have_meta.get("labels") or {})
        or want_meta["annotations"] != (have_meta.get("annotations") or {})
    )


class Copier:
    """The state the handlers share: the two `kubernetes` clients and the caches of both sides."""

    def __init__(self, args: argparse.Namespace) -> None:
        from kubernetes import client, config  # the host (and status) client; kopf brings its own for the watch

        load: Any = config.load_kube_config  # untyped package

        def configuration(path: str) -> Any:
            loaded = client.Configuration()
            load(config_file=path, client_configuration=loaded, persist_config=False)
            loaded.connection_pool_maxsize = args.workers + 4  # one per handler thread, and the watch
            return loaded

        self.virtual_configuration = configuration(args.virtual_kubeconfig)
        # Any: the package's own annotations type every answer as `object`; these are JSON dicts.
        self.host: Any = client.CustomObjectsApi(client.ApiClient(configuration(args.host_kubeconfig)))
        self.virtual: Any = client.CustomObjectsApi(client.ApiClient(self.virtual_configuration))
        self.group, self.version, self.plural = args.group, args.version, args.plural
        self.vcluster, self.host_namespace = args.vcluster, args.host_namespace
        self.copies: dict[str, JSONDict] = {}  # host name -> copy, kept by the host watch
        self.statuses: dict[tuple[str, str], Any] = {}  # (namespace, name) -> status of the source as last seen
        self.listed = threading.Event()
        self._stop = threading.Event()

    # -- virtual side: kopf's event handler --------------------------------------------------------------------

    def on_event(self, event_type: str | None, body: JSONDict) -> None:
        meta = body.get("metadata") or {}
        namespace, name = str(meta.get("namespace")), str(meta.get("name"))
        target = host_name(self.vcluster, namespace, name)
        have = self.copies.get(target)
        if event_type == "DELETED":
            self.statuses.pop((namespace, name), None)
            if have is not None:
                self._ignore_404(self.host.delete_namespaced_custom_object, self.group, self.version,
                                 self.host_namespace, self.plural, target)
            return
        self.statuses[(namespace, name)] = body.get("status")
        want = desired_copy(body, self.vcluster, self.host_namespace, self.group)
        if have is None:
            try:
                have = self.host.create_namespaced_custom_object(self.group, self.version, self.host_namespace,
                                                                 self.plural, want)
            except Exception as exc:
                if getattr(exc, "status", None) != 409:
                    raise
                have = None  # created meanwhile (our own earlier write, not yet in the cache): compare next time
        elif drift(want, have):
            patch = {"metadata": {k: want["metadata"][k] for k in ("labels", "annotations")}, "spec": want.get("spec")}
            self.host.patch_namespaced_custom_object(self.group, self.version, self.host_namespace, self.plural,
                                                     target, patch, _content_type=_MERGE)
        if have is not None:
            self._status_back(have)

    # -- host side: list + watch thread ------------------------------------------------------------------------

    def _status_back(self, copy: JSONDict) -> None:
        annotations = (copy.get("metadata") or {}).get("annotations") or {}
        key = (str(annotations.get(PREFIX + "source-namespace")), str(annotations.get(PREFIX + "source-name")))
        if key not in self.statuses or "status" not in copy:
            return  # not ours, source not seen yet (its own event will do it), or nothing to copy
        if copy["status"] == self.statuses[key]:
            return
        self.statuses[key] = copy["status"]
        self._ignore_404(self.virtual.patch_namespaced_custom_object_status, self.group, self.version, key[0],
                         self.plural, key[1], {"status": copy["status"]}, _content_type=_MERGE)

    def list_host(self) -> str:
        listed = self.host.list_namespaced_custom_object(self.group, self.version, self.host_namespace, self.plural)
        self.copies = {item["metadata"]["name"]: item for item in listed.get("items", [])}
        self.listed.set()
        return str(listed["metadata"]["resourceVersion"])

    def watch_host(self, resource_version: str) -> None:
        from kubernetes import watch

        watcher: Any = watch.Watch  # untyped package
        while not self._stop.is_set():
            try:
                stream = watcher().stream(
                    self.host.list_namespaced_custom_object, self.group, self.version, self.host_namespace,
                    self.plural, resource_version=resource_version, timeout_seconds=300,
                )  # fmt: skip
                for event in stream:
                    obj = event["object"]
                    resource_version = obj["metadata"]["resourceVersion"]
                    if event["type"] == "DELETED":
                        self.copies.pop(obj["metadata"]["name"], None)
                    elif event["type"] in ("ADDED", "MODIFIED"):
                        self.copies[obj["metadata"]["name"]] = obj
                        self._status_back(obj)
            except Exception as exc:  # 410 Gone, a broken stream: list afresh and go on watching
                log.warning("host watch: %s; listing again", exc)
                time.sleep(1.0)
                try:
                    resource_version = self.list_host()
                except Exception as again:
                    log.warning("host list: %s", again)

    def stop(self) -> None:
        self._stop.set()

    @staticmethod
    def _ignore_404(call: Any, *args: Any, **kwargs: Any) -> None:
        try:
            call(*args, **kwargs)
        except Exception as exc:
            if getattr(exc, "status", None) != 404:
                raise


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kopf-copier", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--virtual-kubeconfig", required=True)
    parser.add_argument("--host-kubeconfig", required=True)
    parser.add_argument("--host-namespace", required=True)
    parser.add_argument("--vcluster", required=True)
    parser.add_argument("--workers", type=int, default=32, help="handler threads (crdsync run's default is 32)")
    parser.add_argument("--group", default="bench.crdsync.io")
    parser.add_argument("--version", default="v1")
    parser.add_argument("--plural", default="items")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import kopf

    # crdsync's log format, so the benchmark reads every peer's log the same way.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        copier = Copier(args)
    except Exception as exc:
        log.error("cannot load kubeconfigs: %s", exc)
        return 1
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)  # kopf's watch connects to the virtual cluster with the same credentials
    def login(**_: Any) -> kopf.ConnectionInfo:
        loaded = copier.virtual_configuration
        header = loaded.get_api_key_with_prefix("BearerToken") or loaded.get_api_key_with_prefix("authorization")
        scheme, _space, token = str(header or "").rpartition(" ")
        return kopf.ConnectionInfo(
            server=loaded.host, ca_path=loaded.ssl_ca_cert, insecure=not loaded.verify_ssl,
            certificate_path=loaded.cert_file, private_key_path=loaded.key_file,
            scheme=scheme or None, token=token or None,
        )  # fmt: skip

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.enabled = False
        settings.execution.max_workers = args.workers
        # Before kopf's first virtual event: the host cache must be full, or every pair would look like a create.
        resource_version = copier.list_host()
        threading.Thread(target=copier.watch_host, args=(resource_version,), name="host-watch", daemon=True).start()
        log.info("copying %s/%s %s from every virtual namespace to host namespace %s with %d workers (%d copies"
                 " there now)", args.group, args.version, args.plural, args.host_namespace, args.workers,
                 len(copier.copies))

    @kopf.on.cleanup(registry=registry)
    def cleanup(**_: Any) -> None:
        copier.stop()

    @kopf.on.event(args.group, args.version, args.plural, registry=registry)
    def copy(type: str | None, body: kopf.Body, **_: Any) -> None:
        copier.on_event(type, dict(body))

    kopf.run(registry=registry, standalone=True, clusterwide=True)
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
