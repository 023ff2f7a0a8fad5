#!/usr/bin/env bash
# The documentation build (.ci/run step 7), from the installed fastconv:
# the HTML site with warnings as errors (the gallery runs every example),
# then every docstring example as a doctest. Prints the build's last lines
# and the doctest count.
#
#   bash scripts/ci/docs.sh VENV OUTDIR
set -euo pipefail
VENV="$1"
OUT="$2"
DOCS="$(cd "$(dirname "$0")/../../docs" && pwd)"
rm -rf "$OUT"
mkdir -p "$OUT"
# From outside the clone, so conf.py's "import fastconv" is the installed one.
cd "$OUT"
"$VENV/bin/sphinx-build" -N -W --keep-going -b html "$DOCS" "$OUT/html" > "$OUT/html.log" 2>&1 \
    || { cat "$OUT/html.log"; exit 1; }
tail -n 3 "$OUT/html.log"
"$VENV/bin/sphinx-build" -N -W --keep-going -b doctest "$DOCS" "$OUT/doctest" > "$OUT/doctest.log" 2>&1 \
    || { cat "$OUT/doctest.log"; exit 1; }
tail -n 6 "$OUT/doctest/output.txt"
python3 - "$OUT/doctest/output.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
n = int(re.search(r"^\s*(\d+) tests$", text, re.M).group(1))
assert n >= 100, f"only {n} doctests ran: examples went missing from the docstrings"
print(f"docs: {n} doctests passed")
PY
