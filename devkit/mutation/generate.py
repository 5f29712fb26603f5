"""mutmut's generate step alone: write mutants/ as `mutmut run` would, run no test, and count the mutants per file.

`mutmut run` then finds every file already mutated and goes straight to testing, so generating first costs nothing
extra; it is how a sampled run (`python -m devkit.mutation --sample N`) learns every mutant's name before choosing.
mutmut 3 has no command for this step, so it calls the functions `mutmut run` starts with (mutmut.__main__, pinned
in requirements.lock; a mutmut that renames them fails here at import, loudly). Run from the repository root.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from devkit.mutation.report import read_results


def generate(max_children: int) -> None:
    from mutmut.__main__ import create_mutants
    from mutmut.utils.file_utils import copy_also_copy_files, copy_src_dir, setup_source_paths

    os.makedirs("mutants", exist_ok=True)
    copy_src_dir()
    copy_also_copy_files()
    setup_source_paths()
    create_mutants(max_children)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.mutation.generate", description=__doc__.split("\n")[0])
    parser.add_argument("--max-children", type=int, default=2, help="files mutated at once (default: 2)")
    args = parser.parse_args(argv)
    generate(args.max_children)
    mutants = read_results(Path("mutants"))
    by_file = Counter(m.source for m in mutants)
    by_package = Counter(m.package for m in mutants)
    for name, count in [*sorted(by_file.items()), *sorted(by_package.items()), ("overall", len(mutants))]:
        print(f"  {name:<40} {count:6d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
