#!/usr/bin/env bash
# Set-up command 1 (README): a fresh virtual environment, the package
# installed from this clone, then the main job. For now that is the
# configuration report and the quickstart; the benchmark issue turns it into
# the benchmark report.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
VENV="${FASTCONV_MAIN_VENV:-$ROOT/.venv-main}"

python3 -m venv --clear "$VENV"
"$VENV/bin/python" -m pip install --quiet .

# Run outside the clone so its fastconv/ (no compiled extension) does not
# shadow the installed package.
cd "$VENV"
bin/python -m fastconv info
echo
echo "quickstart:"
bin/python - <<'PY'
import numpy as np
import fastconv

X = np.arange(9.0).reshape(3, 3)
K = np.array([[0.0, 1.0], [2.0, 3.0]])
for backend in fastconv.available_backends():
    Y = fastconv.corr2d(X, K, backend=backend)
    print(f"  corr2d(X, K, backend={backend!r:9}) = {Y.tolist()}")
Y = fastconv.corr2d(X, K)
assert Y.tolist() == [[19.0, 25.0], [37.0, 43.0]], Y
print("  corr2d(X, K, padding=1, stride=(3, 2)) =", fastconv.corr2d(X, K, padding=1, stride=(3, 2)).tolist())
print("  convolve2d(X, K) =", fastconv.convolve2d(X, K).tolist())
PY
