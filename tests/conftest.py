import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

#: ../shared/data/real next to the repository; $ISPVIEWER_REAL_DATA names it for a checkout elsewhere
REAL_DATA = Path(os.environ.get("ISPVIEWER_REAL_DATA")
                 or Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real")


@pytest.fixture
def real_data() -> Path:
    if not REAL_DATA.is_dir():
        pytest.skip(f"real data folder {REAL_DATA} is absent")
    return REAL_DATA


def pytest_addoption(parser):
    parser.addoption("--long", action="store_true", default=False,
                     help="deep reliability runs: many kills, long fuzzing (same as ISPVIEWER_LONG_TESTS=1)")


def pytest_configure(config):
    if config.getoption("--long", default=False):
        os.environ["ISPVIEWER_LONG_TESTS"] = "1"
