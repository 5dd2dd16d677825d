"""The import-linter layer contracts hold, and each one really fails when a forbidden import appears.

The contracts run on the package as it installs (``scripts/lint_imports.py``), so the network's
files under ``model/`` are checked as ``ispviewer.model``: the mutations below add one forbidden
import to a copy of the tree and expect exactly that contract to break.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter")

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "lint_imports.py"


def lint(root: Path, *contracts: str) -> subprocess.CompletedProcess:
    options = [arg for c in contracts for arg in ("--contract", c)]
    return subprocess.run([sys.executable, str(SCRIPT), "--root", str(root), "--no-logo", *options],
                          capture_output=True, text=True, timeout=120)


def copy_tree(dest: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pt", "*.png", "*.jpg")
    for folder in ("ispviewer", "model", "resources"):
        shutil.copytree(REPO / folder, dest / folder, ignore=ignore)
    shutil.copyfile(REPO / "pyproject.toml", dest / "pyproject.toml")
    return dest


def installed_name(path: str) -> str:
    """``model/networks.py`` -> ``ispviewer.model.networks`` (as it installs)."""
    parts = path.removesuffix(".py").split("/")
    return ".".join(["ispviewer", *parts] if parts[0] == "model" else parts)


def test_every_contract_is_kept_by_this_tree():
    out = lint(REPO)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout and "ispviewer.model" not in out.stderr


@pytest.mark.parametrize(("path", "line", "contract"), [
    ("model/networks.py", "from ispviewer.dataset.records import Status", "network-core"),
    ("model/inference.py", "from ispviewer.align import warp", "network-core"),
    ("ispviewer/dataset/check.py", "from ispviewer.align import batch", "layers"),
    ("ispviewer/dataset/heatmap_file.py", "from ispviewer.workflows import repair", "layers"),
    ("ispviewer/align/warp.py", "import ispviewer.model.kernels", "layers"),
    ("ispviewer/workflows/demo.py", "from ispviewer.gui import app", "layers"),
    ("ispviewer/dataset/records.py", "from PySide6 import QtCore", "qt-free-core"),
    ("model/losses.py", "import pyqtgraph", "qt-free-core"),
    ("ispviewer/gui/weights.py", "from ispviewer.model.commands import register", "cli-modules"),
])
def test_a_forbidden_import_breaks_its_contract(tmp_path, path, line, contract):
    root = copy_tree(tmp_path / "repo")
    assert lint(root, contract).returncode == 0  # the copy as it is keeps the contract
    with open(root / path, "a") as fh:
        fh.write(f"\n{line}  # forbidden\n")
    out = lint(root, contract)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Broken contracts" in out.stdout and "1 broken" in out.stdout
    assert installed_name(path) in out.stdout  # the offending module is named
