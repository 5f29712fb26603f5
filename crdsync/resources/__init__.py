"""Files crdsync ships inside its package: the mapping JSON Schema and the example mappings.

One source of truth. The files live at the top of the repository, in schemas/ and mappings/, where editors (each
mapping's `# yaml-language-server: $schema=../schemas/mapping.schema.json` line) and readers look for them. This
package holds two relative directory symlinks to them, `schemas -> ../../schemas` and `mappings -> ../../mappings`:
- from a checkout or an editable install, reading through a link reads the top-level file itself;
- when setuptools builds a wheel, build_py copies the *contents* of the files the package-data globs in
  pyproject.toml find through the links, so the wheel holds real files at crdsync/resources/schemas/... and
  crdsync/resources/mappings/... (tests/test_wheel.py builds one and checks they are byte-identical to the
  top-level files).
Nothing is copied into the source tree, so there is no second copy to drift, and nothing has to be remembered when a
mapping is added: the globs pick up every schemas/*.json and mappings/*.yaml.

Everything is located through importlib.resources relative to this package, never relative to a checkout or the
working directory, so an installed crdsync works from any directory. crdsync is installed as plain files (wheels are
unpacked; it is not zip-safe), so a resource is a real filesystem path that can be handed to code expecting one.

Failure modes: the functions return paths without checking them; a path that does not exist means a broken install
or a checkout without the symlinks (e.g. git on Windows without symlink support). Callers check is_file() and say
where they looked (crdsync.spec.schema raises SchemaNotFoundError naming the path). `package_dir` raises
RuntimeError if the package is ever imported from somewhere that is not a directory (a zip).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

SCHEMAS = "schemas"
MAPPINGS = "mappings"


def package_dir() -> Path:
    """This package's directory (as imported: an installed copy, or the checkout's crdsync/resources)."""
    root = files(__name__)
    if not isinstance(root, Path):
        raise RuntimeError(f"crdsync.resources is not a directory ({root!r}); install crdsync unzipped")
    return root


def schema_path(filename: str) -> Path:
    """Where the shipped schema `filename` (e.g. mapping.schema.json) is; it may be missing (see module docstring)."""
    return package_dir() / SCHEMAS / filename


def mapping_path(filename: str) -> Path:
    """Where the shipped mapping `filename` (e.g. cert-manager.yaml) is; it may be missing (see module docstring)."""
    return package_dir() / MAPPINGS / filename


def mapping_paths() -> list[Path]:
    """Every shipped mapping (mappings/*.yaml), sorted by name; empty when none is there."""
    return sorted((package_dir() / MAPPINGS).glob("*.yaml"))
