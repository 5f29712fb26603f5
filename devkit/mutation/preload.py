"""Imported once by mutmut's fork server (pyproject [tool.mutmut] preload_modules_file = devkit/mutation/preload.txt).

Every mutant runs in a process forked from that server, so what it imported is already loaded: the test runner and
every crdsync module (from mutants/, the mutated copy: mutmut puts it first on sys.path). Without this each mutant
would compile the mutated modules again (several MB of generated source) and pytest's plugins: seconds per mutant.

Only imports: no test runs and no crdsync function is called here, so no cache (functools.lru_cache in names, paths,
objects; the module-level maps in translate.objects) holds a value the unmutated code computed. Forking from a process
that had run the tests is what made mutants of functions behind such a cache survive wrongly (mutmut's default `fork`
isolation runs the whole suite in the process it forks from; hence process_isolation = "forkserver").

Failure modes: none raised; a module that cannot be imported is left to the mutant's own run, which reports it.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil

import crdsync

for _name in ("pytest", "hypothesis", "_hypothesis_pytestplugin", "pytest_timeout"):
    with contextlib.suppress(ImportError):
        importlib.import_module(_name)

for _module in pkgutil.walk_packages(crdsync.__path__, prefix="crdsync."):
    if _module.name.rsplit(".", 1)[-1] == "__main__":
        continue  # running it is what importing __main__ does
    with contextlib.suppress(Exception):  # best effort, like mutmut's own preloading
        importlib.import_module(_module.name)
