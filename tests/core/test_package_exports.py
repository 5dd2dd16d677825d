"""The packages' lazily imported names (one mechanism: lazy_loader) all resolve, and importing a
package stays cheap: no OpenCV or torch until a name that needs them is used."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PACKAGES = ("ispviewer.align", "ispviewer.dataset.demo", "ispviewer.model")


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves_to_its_module(package):
    pkg = importlib.import_module(package)
    assert pkg.__all__ and sorted(dir(pkg)) == sorted(pkg.__all__)
    for name in pkg.__all__:
        value = getattr(pkg, name)
        if callable(value):  # classes and functions come from the package's own modules
            assert value.__module__.startswith(package + "."), (name, value.__module__)
    with pytest.raises(AttributeError):
        pkg.no_such_name  # noqa: B018 - the access itself is the test


def test_importing_the_packages_loads_neither_opencv_nor_torch():
    code = ("import sys\nimport " + ", ".join(PACKAGES) + "\n"
            "heavy = sorted(m for m in ('cv2', 'torch') if m in sys.modules)\n"
            "assert not heavy, heavy\n"
            "import ispviewer.model.weight_files\nassert 'torch' not in sys.modules\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
