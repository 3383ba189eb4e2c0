"""README's "Your own data" example runs as written and learns the folder.

The commands are read from README.md itself (its first ``bash`` block under
"## Your own data"), with ``/tmp/shapes`` moved into the test's temporary
folder: write an image folder, train on it, predict on its test images.
"""

import json
import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme_commands(section: str) -> list[str]:
  """The commands of the first bash block under ``section`` in README.md."""
  with open(os.path.join(ROOT, 'README.md')) as f:
    text = f.read()
  start = text.index(f'\n{section}\n')
  block = re.search(r'```bash\n(.*?)```', text[start:], re.S)
  assert block, f'no bash block under {section}'
  joined = block.group(1).replace('\\\n', ' ')
  return [
    line.strip()
    for line in joined.splitlines()
    if line.strip() and not line.strip().startswith('#')
  ]


@pytest.mark.slow  # about two minutes on 2 CPU cores.
def test_your_own_data_example(tmp_path):
  commands = readme_commands('## Your own data')
  assert [c.split()[2] for c in commands] == [
    'examples.shapes_folder',
    'cnn_jax.main',
    'cnn_jax.predict',
  ]
  outputs = []
  for command in commands:
    command = command.replace('/tmp/shapes', str(tmp_path / 'shapes'))
    args = shlex.split(command)
    assert args[0] == '.venv/bin/python', command
    proc = subprocess.run(
      [sys.executable, *args[1:]],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=1200,
      check=False,
    )
    assert proc.returncode == 0, (command, proc.stderr[-3000:])
    outputs.append(proc.stdout)
  with open(tmp_path / 'shapes_run' / 'results.json') as f:
    results = json.load(f)
  assert results['test']['num_examples'] == 90  # 30 per class, each once
  assert results['test']['accuracy'] > 0.6  # 3 classes: chance is 1/3
  # predict: every test image of the folder, each with its top classes.
  predicted = outputs[2]
  files = sorted(
    os.path.join(d, f)
    for d, _, fs in os.walk(tmp_path / 'shapes' / 'test' / 'circle')
    for f in fs
  )
  assert files and all(path in predicted for path in files)
  assert all(name in predicted for name in ('circle', 'square', 'triangle'))
