"""The sweep runner: a base config, a list of runs, one workdir each, a report.

``python -m experiments.sweep experiments/sweeps/<name>.py`` (see ``cli``).
The parts: ``spec`` (what a sweep file declares: :class:`Run`, :func:`grid`),
``runner`` (subprocesses, resume, attempts), ``records`` (what a finished
run's report needs, kept in the repository), ``collect`` (results and curves
read back), ``report`` (tables, figures, provenance), ``plots``.
Sweep files import what they need from here.
"""

from experiments.sweep.collect import (  # noqa: F401
  RunResult,
  load_results,
  summarize,
)
from experiments.sweep.records import (  # noqa: F401
  META_FILE,
  RECORDS_DIR,
  read_meta,
  record_path,
)
from experiments.sweep.report import PageWouldLoseRuns, collect  # noqa: F401
from experiments.sweep.runner import (  # noqa: F401
  LOG_FILE,
  SweepStopped,
  latest_checkpoint_step,
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
