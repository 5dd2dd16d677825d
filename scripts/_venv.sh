# Sourced by the scripts here: create .venv if needed and install the project into it.
# Usage: setup_venv [EXTRAS]   e.g. setup_venv '[test]'
setup_venv() {
    cd "$(dirname "${BASH_SOURCE[0]}")/.."
    local py=${PYTHON:-python3.11}
    command -v "$py" >/dev/null || py=python3
    [ -x .venv/bin/python ] || "$py" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".$1"
}
