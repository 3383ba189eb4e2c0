"""Reads back the scalars a run wrote to TensorBoard (for plots and tests).

Reads the event files directly (TFRecord framing, TensorBoard's protos), so
it needs no TensorFlow. A record cut short at the end of a file (a run killed
while writing) is ignored.
"""

from __future__ import annotations

import collections
import glob
import os
import struct
from typing import Iterator

from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
from tensorboard.util import tensor_util


def read_records(path: str) -> Iterator[bytes]:
  """The records of a TFRecord file, stopping at a truncated or bad one."""
  with open(path, 'rb') as f:
    while True:
      header = f.read(12)
      if len(header) < 12:
        return
      length, length_crc = struct.unpack('<QI', header)
      if masked_crc32c(header[:8]) != length_crc:
        return
      data = f.read(length)
      footer = f.read(4)
      if len(data) < length or len(footer) < 4:
        return
      if masked_crc32c(data) != struct.unpack('<I', footer)[0]:
        return
      yield data


def read_scalars(workdir: str) -> dict[str, list[tuple[int, float]]]:
  """``{tag: [(step, value), ...]}`` from every event file in ``workdir``."""
  out = collections.defaultdict(dict)
  for path in sorted(glob.glob(os.path.join(workdir, 'events.out.tfevents.*'))):
    for record in read_records(path):
      event = event_pb2.Event.FromString(record)
      for value in event.summary.value:
        if value.HasField('simple_value'):
          out[value.tag][int(event.step)] = value.simple_value
        elif value.metadata.plugin_data.plugin_name == 'scalars':
          # A resumed run writes its steps again: the last write wins.
          out[value.tag][int(event.step)] = float(
            tensor_util.make_ndarray(value.tensor)
          )
  return {tag: sorted(steps.items()) for tag, steps in out.items()}
