"""The command-line tools (``python -m fastconv info|bench|tune``).

* :mod:`.info` -- ``show_config()``: versions, backends, threads;
* :mod:`.bench` -- the benchmark: :mod:`.cases` (what is timed),
  :mod:`.contenders` (who), :mod:`.timing` (interleaved rounds),
  :mod:`.report` (table, pytest-benchmark JSON, chart);
* :mod:`.tune` -- fit the cost model's constants (:mod:`.spread`: the
  problems), and ``--check`` the picks;
* :mod:`.progress` and :mod:`.machine` -- the one progress display and the
  one machine-info helper both commands use.

Only :mod:`.info` is imported by ``import fastconv``; nothing below this
layer imports the tools.
"""
