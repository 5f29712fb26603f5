"""Convert vcluster generic-sync configurations into crdsync mapping rules, reporting what does not carry over.

Pure: plain data in (`inputs.Source`), rules and located findings out. What each vcluster construct meant is taken
from its source (vcluster v0.14-v0.27 pkg/controllers/generic, pkg/patches; the plugin's pkg/syncer, pkg/patches):

- export (vcluster) / fromVirtualCluster (plugin) -> a toHost rule, mode all. vcluster always copied the host copy's
  whole status back (an implicit reverse patch) - crdsync's default; the plugin only when a reverse patch said so.
  `selector.labelSelector` -> selector.matchLabels (the plugin *excluded* matching objects - its objectMatches is
  negated - so one label becomes a NotIn requirement and more cannot be expressed).
- forward patches: remove, add and replace -> the same crdsync ops (vcluster's semantics); rewriteName -> a reference
  (namePath/namespacePath relative to each item, a `regex` of literal text as a `format`) of the kind it names (see
  `references`), `sync.secret`/`sync.configmap` -> follow toHost plus a mode-referenced Secret/ConfigMap rule;
  copyFromObject copied from the *existing host copy*, which crdsync's copy does not do (reported).
- reverse patches: copyFromObject into status -> status (whole status is the default) or a toVirtual copy; set/remove
  under status -> toVirtual patches. vcluster also left every reverse-patched path out of the host copy (unless
  `ignore`, whose meaning the plugin inverted) -> a toHost remove. Outside status, an unconditional copy of a host
  field into the same field (copyFromObject, fromPath absent or equal) that vcluster left out of the host copy is a
  host-owned field -> reverse.paths (crdsync never sends it, so no remove), when crdsync's checks accept the path (a
  plain chain under spec or one annotation, no reference or toHost patch touching it); other reverse writes outside
  status are reported with the reason.
- replaceOnConflict: true on an export -> the toHost rule's replaceOnConflict (delete and recreate a copy the host
  refuses with 422); on an import (vcluster recreated the virtual copy) it is reported.
- import -> a fromHost rule, mode all. vcluster imported only in multi-namespace mode, from the host namespaces it
  created for virtual namespaces; crdsync has no such namespaces, so a namespaced import is written commented out
  for a human to choose host.namespaces (cluster-scoped ones convert as they are).
- plugin syncBack (objects the host operator creates, found by the rewritten name at `selectors[].name.rewrittenPath`)
  -> a follow: fromHost reference on the parent rule and a fromHost mode-referenced rule; its rewriteName patches
  become references mapped back to virtual names.
- conditions -> `when` with the same equal / notEqual / empty / path / subPath (crdsync has vcluster's semantics); a
  non-string operand never matched in vcluster (its YAML text ends in a newline): equal never holds, notEqual always.
- rewriteLabelKey / rewriteLabelSelector (a string map) / rewriteLabelExpressionsSelector -> rewriteLabelKey /
  rewriteLabelKeys / rewriteLabelSelector with keyStyle vclusterLegacy (v0.14-v0.19 configs, the plugin) or vcluster
  (v0.20-v0.27 values, noted), when converting with vcluster naming.
- hooks (vCluster Pro only), regex beyond literal text, and anything vcluster itself rejected -> findings.

Modules: config (one configuration, section by section) -> generic (export, import, hooks) and plugin
(fromVirtualCluster, syncBack, fromHostCluster) -> entries (type, selector), patches (forward), references
(rewriteName), reverse (reverse patches), conditions (paths and conditions); context (the conversion's state).

Failure modes: none raised; malformed configs become findings.
"""
