"""The planner: which backend runs a call made with ``backend="auto"``.

Modules, in the order a decision uses them:

* :mod:`.signature` -- the cache key (:class:`Signature`) and the derived
  :class:`Problem` the model and rules read;
* :mod:`.costmodel` -- work terms per algorithm family, prediction, fitting;
* :mod:`.rules` -- which backends may run a problem (from registry rows and
  module hooks only), and the :class:`Decision` type;
* :mod:`.model` -- the ranking of every backend for one signature;
* :mod:`.measure` -- timing the candidates (``measure=True``, ``tune``);
* :mod:`.decision` -- the per-call choice and its caches;
* :mod:`.wisdom` and :mod:`.state` -- wisdom files and the state in force;
* :mod:`.calibration` -- probe times that carry fitted constants to this machine;
* :mod:`.explain` -- ``plan()`` / ``explain()``.
"""
from .decision import calibrate_machine as calibrate, choose, warm
from .explain import Candidate, Plan, explain, plan
from .state import export_wisdom, forget_wisdom, import_wisdom, reset as reload_wisdom, wisdom_path

__all__ = ["Candidate", "Plan", "calibrate", "choose", "explain", "export_wisdom", "forget_wisdom", "import_wisdom", "plan",
           "reload_wisdom", "warm", "wisdom_path"]
