"""``python -m experiments.sweep``: see :mod:`experiments.sweep.cli`."""

import sys

from experiments.sweep import cli

sys.exit(cli.main())
