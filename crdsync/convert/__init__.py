"""`crdsync convert`: vcluster generic-sync configurations -> a crdsync mapping and a report of what did not carry over.

- `inputs`: find the generic-sync configurations in a file (bare v1beta1 config, plugin config, Helm values holding
  either) and locate every field of them in that file, also inside YAML embedded in a string.
- `vcluster` (a package, one module per construct): the pure conversion of one configuration into mapping rules and
  located findings.
- `mapping`: the rules of every configuration merged into one mapping, loaded with crdsync's own loader as a check.
- `report`: the findings (what did not carry over) and input errors, rendered as text or JSON.
- `emit`: the mapping as commented YAML text.
- `texts`: several files' texts converted together into one mapping (the pure core of `crdsync convert`, whose
  command is crdsync.commands.convert).
"""
