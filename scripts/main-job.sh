#!/usr/bin/env bash
# Set-up command 1 (README): a fresh virtual environment, the package
# installed from this clone with its benchmark extras, then the main job:
# the configuration report and the benchmark report (`python -m fastconv
# bench`, the quick subset; extra arguments go to it, e.g. --full).
# Results land in ./bench-results (table on stdout, bench.json, bench.png).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
VENV="${FASTCONV_MAIN_VENV:-$ROOT/.venv-main}"

python3 -m venv --clear "$VENV"
"$VENV/bin/python" -m pip install --quiet ".[bench]"

# Run outside the clone so its fastconv/ (no compiled extension) does not
# shadow the installed package.
cd "$VENV"
bin/python -m fastconv info
echo
bin/python -m fastconv bench --out "$ROOT/bench-results" "$@"
