#!/usr/bin/env bash
# Set up a virtual environment (if needed), build the demo dataset and open it in the app.
set -euo pipefail
source "$(dirname "$0")/_venv.sh"
setup_venv ''
exec .venv/bin/ispviewer demo "$@"
