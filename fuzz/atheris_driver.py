"""Coverage-guided driver: the differential fuzzer's cases drawn from
libFuzzer's bytes (atheris), so inputs that reach new Python branches of
fastconv are kept and mutated.

    pip install atheris
    python fuzz/atheris_driver.py -max_total_time=300 [corpus_dir]

Any libFuzzer flag works (-runs=N, -jobs=N, ...). A failing input is saved
by libFuzzer as crash-<hash>; run the driver with that file as its argument
to replay it.
"""
import os
import sys

import atheris
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
with atheris.instrument_imports(include=["fastconv"]):
    import fastconv  # noqa: F401  (instrumented for coverage)
import differential  # noqa: E402


class BytesSource:
    """The draws of fuzz/differential.py from a FuzzedDataProvider."""

    def __init__(self, data):
        self.fdp = atheris.FuzzedDataProvider(data)

    def int(self, lo, hi):
        return self.fdp.ConsumeIntInRange(lo, hi)

    def pick(self, seq):
        return seq[self.fdp.ConsumeIntInRange(0, len(seq) - 1)]

    def floats(self, shape):
        seed = self.fdp.ConsumeUInt(4)
        return np.random.default_rng(seed).standard_normal(shape) * self.pick((1.0, 1e-3, 1e3))


def test_one_input(data):
    differential.run_case(BytesSource(data))


def main():
    os.environ.setdefault("FASTCONV_WISDOM", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                          ".atheris-wisdom.json"))
    np.seterr(all="ignore")
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
