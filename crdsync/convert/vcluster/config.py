"""One vcluster configuration -> rules and findings: its top-level fields, the kinds it exports (for references by
kind), each section's entries in order, duplicates, and multi-namespace mode.

Failure modes: none raised; a configuration that is not a mapping is one finding, an entry vcluster could not run
(`InvalidEntry`) converts to nothing and the next entry is converted.
"""

from __future__ import annotations

from typing import Any

from crdsync.convert.inputs import Source
from crdsync.convert.vcluster.context import Context, Conversion, InvalidEntry, listed, nonempty_str
from crdsync.convert.vcluster.entries import labels_valid
from crdsync.convert.vcluster.generic import export_entry, import_entry, report_hooks
from crdsync.convert.vcluster.plugin import from_host_cluster, from_virtual_cluster
from crdsync.spec.source import FieldPath


def convert_source(source: Source, vcluster_naming: bool) -> Conversion:
    """Rules and findings for one configuration (see the module docstring)."""
    out = Conversion()
    ctx = Context(source, out, vcluster_naming)
    data = source.data
    if not isinstance(data, dict):
        ctx.finding((), "the configuration is not a mapping", "fix the config: vcluster rejected it")
        return out
    version = data.get("version")
    if version != "v1beta1":
        ctx.finding(("version",), f"version {version!r}: vcluster accepted only v1beta1", "set version: v1beta1")
    if source.format == "plugin":
        _plugin_config(ctx, data)
    else:
        _generic_config(ctx, data)
    return out


def _plugin_config(ctx: Context, data: dict[str, Any]) -> None:
    allowed = {"version", "mappings"}
    for key in sorted(set(data) - allowed):
        ctx.finding((key,), f"unknown field {key}: the plugin's strict parsing rejected the config", "remove it")
    mappings = listed(ctx, data, "mappings", ())
    for mapping in mappings:
        if isinstance(mapping, dict):
            virtual = mapping.get("fromVirtualCluster")
            if isinstance(virtual, dict) and labels_valid(virtual):
                kind, api = nonempty_str(virtual.get("kind")), nonempty_str(virtual.get("apiVersion"))
                if kind and api:
                    ctx.exported[kind] = api
    for index, mapping in enumerate(mappings):
        mpath: FieldPath = ("mappings", index)
        if not isinstance(mapping, dict) or not ({"fromVirtualCluster", "fromHostCluster"} & set(mapping)):
            ctx.finding(mpath, "a mapping needs fromVirtualCluster", "fix the config: the plugin rejected it")
            continue
        try:
            if "fromVirtualCluster" in mapping:
                from_virtual_cluster(ctx, mapping["fromVirtualCluster"], (*mpath, "fromVirtualCluster"))
            if "fromHostCluster" in mapping:
                from_host_cluster(ctx, mapping["fromHostCluster"], (*mpath, "fromHostCluster"))
        except InvalidEntry:
            continue


def _generic_config(ctx: Context, data: dict[str, Any]) -> None:
    allowed = {"version", "export", "import", "hooks", "role", "clusterRole"}
    for key in sorted(set(data) - allowed):
        ctx.finding((key,), f"unknown field {key}: vcluster's strict parsing rejected the config", "remove it")
    exports = listed(ctx, data, "export", ())
    for entry in exports:
        if (
            isinstance(entry, dict)
            and nonempty_str(entry.get("kind"))
            and nonempty_str(entry.get("apiVersion"))
            and labels_valid(entry)
        ):
            ctx.exported.setdefault(str(entry["kind"]), str(entry["apiVersion"]))
    seen: dict[tuple[str, str], FieldPath] = {}
    for section, handler in (("export", export_entry), ("import", import_entry)):
        for index, entry in enumerate(listed(ctx, data, section, ())):
            path: FieldPath = (section, index)
            if isinstance(entry, dict):
                entry_key = (section, f"{entry.get('apiVersion')}|{entry.get('kind')}")
                if entry_key in seen:
                    ctx.finding(path, f"duplicate {section} of {entry.get('kind')}: vcluster rejected the config",
                                "remove one")  # fmt: skip
                    continue
                seen[entry_key] = path
            try:
                handler(ctx, entry, path)
            except InvalidEntry:
                continue
    report_hooks(ctx, data.get("hooks"), ("hooks",))
    if ctx.source.multi_namespace and (exports or data.get("import")):
        ctx.finding(
            (),
            "multi-namespace mode: vcluster kept names and put each virtual namespace's copies in a host namespace of "
            "its own; crdsync puts a tenant's copies in one host namespace under translated names",
            "the copies vcluster made are not found: stop vcluster's generic sync and delete its host copies before "
            "crdsync creates its own",
        )
