"""The sweep runner: a base config, a list of runs, one workdir each, a report.

``python -m experiments.sweep experiments/sweeps/<name>.py`` (see ``cli``).
The parts: ``spec`` (what a sweep file declares: :class:`Run`, :func:`grid`),
``runner`` (subprocesses, resume, attempts), ``collect`` (results and curves
read back), ``report`` (tables, figures, provenance), ``plots``.
Sweep files import what they need from here.
"""

from experiments.sweep.collect import (  # noqa: F401
  RunResult,
  load_results,
  summarize,
)
from experiments.sweep.report import collect  # noqa: F401
from experiments.sweep.runner import (
  LOG_FILE,
  META_FILE,  # noqa: F401
  SweepStopped,
  latest_checkpoint_step,
  read_meta,
  run_one,
  run_sweep,
)
from experiments.sweep.spec import (
  RESULTS_DIR,
  ROOT,
  RUNS_DIR,  # noqa: F401
  Run,
  Sweep,
  command_of,
  grid,
  load_sweep,
  workdir_of,
)
