"""Sweeps over cnn_jax configs: the runner, plots and the sweep files.

``python -m experiments.sweep experiments/sweeps/<name>.py`` runs a sweep and
writes ``experiments/results/<name>.md`` (see experiments/README.md).
"""
