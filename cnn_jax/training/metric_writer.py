"""TensorBoard event files for training metrics, without TensorFlow.

``clu.metric_writers`` imports TensorFlow for its summary writer, and so does
TensorBoard's own ``EventFileWriter`` (through ``tensorboard.compat.tf`` when
TensorFlow is installed). This writer builds the same events with
TensorBoard's protos and its TF-free record writer: scalars as TF2 summaries
(plugin ``scalars``, what ``tf.summary.scalar`` writes) and hyperparameters
for the HParams dashboard. TensorBoard and
:func:`cnn_jax.analysis.scalars.read_scalars` read them as before.

The interface is the part of CLU's ``MetricWriter`` the trainer uses:
``write_scalars``, ``write_hparams``, ``flush``, ``close``. Every
``write_scalars`` call is flushed to disk (one call per logging window), so a
killed run keeps its curves up to its last log line.
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from typing import Any, Mapping


from tensorboard.compat.proto import event_pb2
from tensorboard.plugins.hparams import summary_v2 as hparams_summary
from tensorboard.plugins.scalar import summary_v2 as scalar_summary
from tensorboard.summary.writer.record_writer import RecordWriter


_FILE_NUMBERS = itertools.count()


class TensorBoardWriter:
  """Appends events to a new ``events.out.tfevents.*`` file in ``logdir``."""

  def __init__(self, logdir: str):
    os.makedirs(logdir, exist_ok=True)
    name = (
      f'events.out.tfevents.{int(time.time()):010d}.'
      f'{socket.gethostname()}.{os.getpid()}.{next(_FILE_NUMBERS)}.v2'
    )
    self.path = os.path.join(logdir, name)
    self._file = open(self.path, 'wb')  # pylint: disable=consider-using-with
    self._records = RecordWriter(self._file)
    self._write(event_pb2.Event(file_version='brain.Event:2'))

  def _write(self, event: event_pb2.Event) -> None:
    if not event.wall_time:
      event.wall_time = time.time()
    self._records.write(event.SerializeToString())

  def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
    for tag, value in scalars.items():
      self._write(
        event_pb2.Event(
          step=int(step), summary=scalar_summary.scalar_pb(tag, float(value))
        )
      )
    self.flush()

  def write_hparams(self, hparams: Mapping[str, Any]) -> None:
    self._write(
      event_pb2.Event(summary=hparams_summary.hparams_pb(dict(hparams)))
    )
    self.flush()

  def flush(self) -> None:
    if not self._file.closed:
      self._file.flush()

  def close(self) -> None:
    if not self._file.closed:
      self._file.close()


class MultiWriter:
  """Writes to each of ``writers``."""

  def __init__(self, writers):
    self.writers = list(writers)

  def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
    for w in self.writers:
      w.write_scalars(step, scalars)

  def write_hparams(self, hparams: Mapping[str, Any]) -> None:
    for w in self.writers:
      w.write_hparams(hparams)

  def flush(self) -> None:
    for w in self.writers:
      w.flush()

  def close(self) -> None:
    for w in self.writers:
      w.close()


def create_writer(logdir: str, *, primary: bool = True):
  """TensorBoard events in ``logdir`` from the primary process (process 0 of a
  multi-host run), nothing from the others. No console lines: the trainer
  prints each window and evaluation once itself."""
  return MultiWriter([TensorBoardWriter(logdir)] if primary else [])
