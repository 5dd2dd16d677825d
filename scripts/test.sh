#!/usr/bin/env bash
# Set up a virtual environment (if needed) and run the whole test suite offscreen.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
export QT_QPA_PLATFORM=offscreen
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
# pytest exits 5 when it collected no tests: not a failure of the project.
[ "$rc" -eq 5 ] && rc=0
exit "$rc"
