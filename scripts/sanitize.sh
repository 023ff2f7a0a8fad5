#!/usr/bin/env bash
# Build the compiled extension with AddressSanitizer + UndefinedBehaviorSanitizer
# into a separate virtual environment, then run the differential fuzzer
# (fuzz/differential.py) under the sanitizers for a bounded time. Any memory
# error or undefined behaviour in the C kernels aborts the run with a report;
# a wrong result fails it with a replay command.
#
#   bash scripts/sanitize.sh                          # CI: 120 s of fuzzing
#   FUZZ_SECONDS=3600 bash scripts/sanitize.sh        # a long run
#   FUZZ_SEED=7 bash scripts/sanitize.sh              # reproducible cases
#
# FASTCONV_ASAN_VENV overrides where the environment is made (.venv-asan);
# it is reused between runs. The build happens in a temporary copy of the
# source, so the working tree's own in-place build is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
FUZZ_SECONDS="${FUZZ_SECONDS:-120}"
VENV="${FASTCONV_ASAN_VENV:-$ROOT/.venv-asan}"
BUILD="$(mktemp -d)"
trap 'rm -rf "$BUILD"' EXIT

CC="${CC:-gcc}"
ASAN_LIB="$("$CC" -print-file-name=libasan.so)"
UBSAN_LIB="$("$CC" -print-file-name=libubsan.so)"
for lib in "$ASAN_LIB" "$UBSAN_LIB"; do
    [ -f "$lib" ] || { echo "sanitize.sh: $CC has no $(basename "$lib") (install gcc's sanitizer runtimes)" >&2; exit 1; }
done

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet numpy scipy numba threadpoolctl platformdirs "cython>=3" "setuptools>=77"  # PEP 639 license metadata (pyproject)

# The source as git sees it (tracked and new files, no build artefacts).
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$BUILD"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
# -O0: ASan and UBSan check the same accesses at any level, and the
# register-blocked direct kernels take 6+ minutes to compile instrumented at
# -O1 against under 2 at -O0 (the fuzzer is time-bounded, not case-bounded).
(cd "$BUILD" && CFLAGS="$SAN" LDFLAGS="$SAN" FASTCONV_OPT_FLAGS="${FASTCONV_SANITIZE_OPT:--O0}" "$VENV/bin/python" setup.py build_ext --inplace > build.log 2>&1) \
    || { cat "$BUILD/build.log"; exit 1; }
echo "sanitize.sh: built $(ls "$BUILD"/fastconv/backends/_cython*.so) with $SAN"

# Python's own allocator hides heap errors from ASan: use malloc. Leak
# detection is off (the interpreter keeps memory alive until exit).
export LD_PRELOAD="$ASAN_LIB $UBSAN_LIB"
export PYTHONMALLOC=malloc
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export PYTHONPATH="$BUILD"
export FASTCONV_WISDOM="$BUILD/wisdom.json"
cd "$BUILD"
"$VENV/bin/python" -W ignore -c 'import fastconv.backends._cython as c; print("sanitize.sh: extension", c.__file__, c.SIMD)'
"$VENV/bin/python" -W ignore fuzz/differential.py --seconds "$FUZZ_SECONDS" ${FUZZ_SEED:+--seed "$FUZZ_SEED"}
