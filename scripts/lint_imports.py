"""Check the import-linter contracts in pyproject.toml against the package as it installs.

``model/`` installs as ``ispviewer.model`` (and ``resources/`` as ``ispviewer.resources``) through
``[tool.setuptools.package-dir]``.  import-linter finds a package's modules on the file system and
cannot follow that mapping, so run on the source tree it would never see the network's files.  This
script lays the Python files out as the distribution installs them — ``ispviewer/`` with each mapped
folder at its package path — in a temporary folder, and runs ``lint-imports`` there with that folder
first on the module search path.  Exit status: lint-imports' own (0 when every contract is kept).

Usage: python scripts/lint_imports.py [--root REPOSITORY] [lint-imports options, e.g. --verbose]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def installed_layout(root: Path, dest: Path) -> list[str]:
    """Copy the ``.py`` files of ``root``'s packages into ``dest`` as they install; the package folders made."""
    config = tomllib.loads((root / "pyproject.toml").read_text())
    package_dirs: dict[str, str] = config["tool"]["setuptools"].get("package-dir", {})
    top = config["tool"]["importlinter"]["root_package"]
    layout = {top: root / top} | {package: root / folder for package, folder in package_dirs.items()}
    made = []
    for package, source in layout.items():
        target = dest.joinpath(*package.split("."))
        for path in sorted(source.rglob("*.py")):
            relative = path.relative_to(source)
            if any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
                continue
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / relative)
        made.append(package)
    return made


def lint_imports_command() -> list[str]:
    """lint-imports of the Python running this script (the project's virtual environment)."""
    beside = Path(sys.executable).with_name("lint-imports")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("lint-imports")
    if found is None:
        raise SystemExit("lint-imports not found: install the test extra (pip install -e '.[test]')")
    return [found]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO, help="repository to check (default: this one)")
    args, extra = parser.parse_known_args(argv)
    root = args.root.resolve()
    with tempfile.TemporaryDirectory(prefix="ispviewer-lint-imports-") as tmp:
        installed_layout(root, Path(tmp))
        env = dict(os.environ, PYTHONPATH=tmp + os.pathsep + os.environ.get("PYTHONPATH", ""))
        command = [*lint_imports_command(), "--no-cache", *extra, str(root / "pyproject.toml")]
        return subprocess.run(command, cwd=tmp, env=env).returncode


if __name__ == "__main__":
    raise SystemExit(main())
