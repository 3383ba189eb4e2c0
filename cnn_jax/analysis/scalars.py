"""Reads back the scalars a run wrote to TensorBoard (for plots and tests)."""
from __future__ import annotations

import collections
import glob
import os

import tensorflow as tf


def read_scalars(workdir: str) -> dict[str, list[tuple[int, float]]]:
  """``{tag: [(step, value), ...]}`` from every event file in ``workdir``."""
  out = collections.defaultdict(dict)
  for path in sorted(glob.glob(os.path.join(workdir, 'events.out.tfevents.*'))):
    for record in tf.data.TFRecordDataset(path):
      event = tf.compat.v1.Event.FromString(record.numpy())
      for value in event.summary.value:
        if value.HasField('simple_value'):
          out[value.tag][int(event.step)] = value.simple_value
        elif value.metadata.plugin_data.plugin_name == 'scalars':
          # A resumed run writes its steps again: the last write wins.
          out[value.tag][int(event.step)] = float(
              tf.make_ndarray(value.tensor))
  return {tag: sorted(steps.items()) for tag, steps in out.items()}
