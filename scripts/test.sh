#!/usr/bin/env bash
# Set-up command 2 (README): a fresh virtual environment, the package
# installed from this clone with its test extras, and the test suite run
# against the INSTALLED package (with its compiled extension), not the
# source tree. Extra arguments go to pytest.
#
#   bash scripts/test.sh                      # the whole suite
#   HYPOTHESIS_PROFILE=dev bash scripts/test.sh -x tests/test_errors.py
#
# FASTCONV_TEST_VENV overrides where the environment is made (.venv-test).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
VENV="${FASTCONV_TEST_VENV:-$ROOT/.venv-test}"

python3 -m venv --clear "$VENV"
"$VENV/bin/python" -m pip install --quiet ".[test]"
# Optional peers the tests compare against when present (torch, OpenCV):
# e.g. FASTCONV_TEST_PEERS="torch==2.13.0 opencv-python-headless".
if [ -n "${FASTCONV_TEST_PEERS:-}" ]; then
    # shellcheck disable=SC2086  # a space-separated list of requirements
    "$VENV/bin/python" -m pip install --quiet $FASTCONV_TEST_PEERS
fi

# pytest is run as the venv's script, not "python -m pytest", so the clone's
# root is not put on sys.path: "import fastconv" finds site-packages.
# (tests/ has no __init__.py; pytest puts tests/ itself on sys.path for the
# shared helpers.)
(cd "$VENV" && bin/python -c 'import fastconv, os; print("testing fastconv from", os.path.dirname(fastconv.__file__))')
exec "$VENV/bin/pytest" -p no:cacheprovider -ra "$@"
