"""The README's Architecture section is what devkit.architecture generates from the code, and the generator refuses
what would make the section lie."""

from __future__ import annotations

from pathlib import Path

import pytest

from devkit import architecture


def test_readme_architecture_section_is_generated_from_the_code() -> None:
    readme = (architecture.ROOT / "README.md").read_text(encoding="utf-8")
    assert architecture.replace_section(readme, architecture.render()) == readme, (
        "README.md's Architecture section is stale: run `python -m devkit.architecture --write`"
    )


def test_every_crdsync_package_appears_in_a_layer() -> None:
    listed = {name for layer in architecture.layers() for name in layer}
    packages = {
        f"crdsync.{p.name}" for p in (architecture.ROOT / "crdsync").iterdir() if (p / "__init__.py").is_file()
    }
    assert packages <= listed


def test_a_module_without_a_docstring_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bare.py").write_text("x = 1\n", encoding="utf-8")
    with pytest.raises(architecture.ArchitectureError, match="no docstring"):
        architecture.first_sentence(tmp_path / "bare.py")


def test_first_sentence_stops_at_the_first_full_stop() -> None:
    path = architecture.ROOT / "crdsync" / "engine" / "queue.py"
    sentence = architecture.first_sentence(path)
    assert sentence and "\n" not in sentence and not sentence.endswith(".")


def test_replace_section_keeps_what_follows() -> None:
    readme = "# t\n\n## Architecture\nold\n\n## Next\nkept\n"
    expected = "# t\n\n## Architecture\nnew\n\n## Next\nkept\n"
    assert architecture.replace_section(readme, "## Architecture\nnew\n") == expected
