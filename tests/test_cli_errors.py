"""User errors end every command with one message and exit status 2; bugs,
and user errors with --config.debug=True / --debug, keep their traceback.

Each case is a real subprocess; they run side by side.
"""

import io
import os
import subprocess
import sys
import textwrap

import numpy as np
from PIL import Image
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = [
  sys.executable,
  '-m',
  'cnn_jax.main',
  '--config=configs/lenet5_fashion_mnist.py',
]


IMAGE_FOLDER = [
  sys.executable,
  '-m',
  'cnn_jax.main',
  '--config=configs/image_folder.py',
]


def _image(path, size=(16, 16)):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.new('RGB', size, (200, 30, 30)).save(path)


def _folders(tmp):
  """Image folders a new user might point --config.image_folder at."""
  (tmp / 'a_file').write_text('not a folder')
  _image(str(tmp / 'one_class' / 'train' / 'cat' / '0.png'))
  _image(str(tmp / 'empty_class' / 'train' / 'cat' / '0.png'))
  os.makedirs(tmp / 'empty_class' / 'train' / 'dog')
  for cls in ('cat', 'dog'):
    _image(str(tmp / 'val_only_class' / 'train' / cls / '0.png'))
    _image(str(tmp / 'val_only_class' / 'val' / cls / '0.png'))
    os.makedirs(tmp / 'no_images' / 'train' / cls)
    for i in range(3):
      _image(str(tmp / 'unreadable' / 'train' / cls / f'{i}.png'))
  _image(str(tmp / 'val_only_class' / 'val' / 'bird' / '0.png'))
  (tmp / 'unreadable' / 'train' / 'cat' / 'notes.jpg').write_text('a text')
  pixels = np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)
  jpeg = io.BytesIO()
  Image.fromarray(pixels).save(jpeg, 'JPEG')
  truncated = jpeg.getvalue()[: len(jpeg.getvalue()) // 2]  # a cut download
  (tmp / 'unreadable' / 'train' / 'dog' / 'cut.jpg').write_bytes(truncated)
  return {
    name: f'--config.image_folder={tmp / name}'
    for name in (
      'no_such_folder',
      'a_file',
      'one_class',
      'empty_class',
      'val_only_class',
      'no_images',
      'unreadable',
    )
  }


def _run_all(cases):
  """{name: (returncode, stderr, stdout)} of commands run side by side."""
  env = dict(os.environ, PYTHONPATH=ROOT)
  procs = {
    name: subprocess.Popen(
      cmd,
      cwd=ROOT,
      env=env,
      text=True,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
    )
    for name, cmd in cases.items()
  }
  out = {}
  for name, proc in procs.items():
    stdout, stderr = proc.communicate(timeout=600)
    out[name] = (proc.returncode, stderr, stdout)
  return out


@pytest.fixture(scope='module')
def results(tmp_path_factory):
  tmp = tmp_path_factory.mktemp('cli')
  sweep = tmp / 'typo_sweep.py'
  sweep.write_text(
    textwrap.dedent("""
      from experiments.sweep import Run
      NAME = 'typo'
      CONFIG = 'configs/lenet5_fashion_mnist.py'
      COMMON = dict(num_train_step=10)
      RUNS = [Run('a', {'batch_size': 0}), Run('b', {})]
  """)
  )
  wd = lambda name: f'--workdir={tmp / name}'  # noqa: E731
  (tmp / 'a_file').write_text('not a directory')
  (tmp / 'weights.h5').write_text('not a Keras file')
  keras_convert = [
    sys.executable,
    '-m',
    'cnn_jax.convert',
    '--source=keras',
    f'--weights={tmp / "weights.h5"}',
    f'--out={tmp / "keras_out"}',
  ]
  return _run_all(
    {
      'workdir_is_a_file': MAIN + [f'--workdir={tmp / "a_file"}'],
      'workdir_cannot_be_created': MAIN + ['--workdir=/proc/no_such/workdir'],
      'convert_keras_torch_name': keras_convert + ['--model=resnet50'],
      'convert_keras_not_a_keras_file': keras_convert
      + ['--model=resnet50_keras'],
      'batch_zero': MAIN + [wd('a'), '--config.batch_size=0'],
      'batch_zero_debug': MAIN
      + [wd('b'), '--config.batch_size=0', '--config.debug=True'],
      'unknown_field': MAIN + [wd('c'), '--config.batch_sizee=3'],
      'missing_config': [
        sys.executable,
        '-m',
        'cnn_jax.main',
        '--config=configs/nope.py',
        wd('g'),
      ],
      'unknown_model': MAIN + [wd('d'), '--config.model=lenet7'],
      'missing_dataset': MAIN
      + [
        wd('e'),
        '--config.dataset=cifar10',
        f'--config.data_dir={tmp / "no_data"}',
      ],
      'batch_vs_devices': MAIN + [wd('f'), '--config.host_devices=3'],
      'convert': [
        sys.executable,
        '-m',
        'cnn_jax.convert',
        '--source=torchvision',
        '--model=resnet_18',
        f'--out={tmp / "out"}',
      ],
      'summary': [sys.executable, '-m', 'cnn_jax.summary', '--model=resnet_18'],
      'summary_debug': [
        sys.executable,
        '-m',
        'cnn_jax.summary',
        '--model=resnet_18',
        '--debug',
      ],
      'benchmark': [
        sys.executable,
        '-m',
        'cnn_jax.benchmark',
        '--config=configs/lenet5_fashion_mnist.py',
        '--config.dtype=float8',
      ],
      'sweep': [
        sys.executable,
        '-m',
        'experiments.sweep',
        str(sweep),
        f'--runs_dir={tmp / "runs"}',
        f'--results_dir={tmp}',
      ],
      'sweep_missing': [
        sys.executable,
        '-m',
        'experiments.sweep',
        str(tmp / 'nope.py'),
      ],
      'out_of_memory': [
        sys.executable,
        '-c',
        textwrap.dedent("""
          import jax, jax.numpy as jnp
          from cnn_jax import errors
          def main(argv):
            jax.block_until_ready(jnp.zeros((2**25, 2**25)))  # 4 PiB
          errors.run(main)
      """),
      ],
      'bug': [
        sys.executable,
        '-c',
        textwrap.dedent("""
          from cnn_jax import errors
          def main(argv):
            raise RuntimeError('a bug')
          errors.run(main)
      """),
      ],
    }
  )


def _one_message(result, *expected):
  code, stderr, _ = result
  assert code == 2, stderr[-3000:]
  assert 'Traceback' not in stderr, stderr[-3000:]
  message = stderr[stderr.index('Error: ') :]  # nothing else after it
  for text in expected:
    assert text in message, message
  return message


@pytest.mark.parametrize(
  'case, expected',
  [
    (
      'batch_zero',
      ['Error: Bad config: batch_size=0: must be an integer >= 1'],
    ),
    (
      'unknown_field',
      [
        'Error: --config.batch_sizee=3: the config has no field '
        "'batch_sizee'. Did you mean --config.batch_size?"
      ],
    ),
    ('missing_config', ['Error: --config=configs/nope.py: no such file']),
    ('unknown_model', ["Unknown model 'lenet7'. Did you mean 'lenet5'?"]),
    (
      'missing_dataset',
      ["Error: Dataset 'cifar10' is not prepared in", 'tfds build cifar10'],
    ),
    (
      'batch_vs_devices',
      [
        'batch_size=128 does not divide over the 3 devices',
        'eval_batch_size=512 does not divide over the 3',
      ],
    ),
    ('convert', ["Unknown model 'resnet_18'. Did you mean 'resnet18'?"]),
    ('summary', ["Unknown model 'resnet_18'. Did you mean 'resnet18'?"]),
    ('benchmark', ["dtype='float8' is not one of: float32, bfloat16."]),
    (
      'sweep',
      [
        "typo_sweep.py: 3 problem(s) in its runs' configs, nothing was "
        "run:\n  - a: the config has no field 'num_train_step'. Did you "
        "mean 'num_train_steps'?\n  - a: batch_size=0: must be an "
        'integer >= 1',
        "\n  - b: the config has no field 'num_train_step'.",
      ],
    ),
    ('sweep_missing', ['No sweep file ', 'experiments/sweeps/']),
    (
      'workdir_is_a_file',
      ['a_file is a file, not a directory; choose another --workdir'],
    ),
    (
      'workdir_cannot_be_created',
      [
        'Error: --workdir=/proc/no_such/workdir cannot be created: No such '
        'file or directory (/proc/no_such). Choose a directory you can '
        'write to.'
      ],
    ),
    (
      'convert_keras_torch_name',
      [
        'Error: --model=resnet50 has no Keras reference. The models '
        'converted from Keras: xception,',
        'resnet50_keras,',
        '--reference_name=CLASS',
      ],
    ),
    (
      'out_of_memory',
      [
        'Error: RESOURCE_EXHAUSTED: Out of memory allocating '
        '4503599627370496 bytes. Lower the batch size or the image size'
      ],
    ),
    (
      'convert_keras_not_a_keras_file',
      [
        'weights.h5 is not a readable Keras weights file (OSError: Unable '
        'to synchronously open file (file signature not found)).'
      ],
    ),
  ],
)
def test_user_errors_are_one_message(results, case, expected):
  message = _one_message(results[case], *expected)
  if case not in ('batch_vs_devices', 'sweep'):
    assert message.count('\n') == 1, message  # a single line


@pytest.fixture(scope='module')
def run_results(tmp_path_factory):
  """Image folders a new user might point --config.image_folder at, and a
  run that diverges."""
  tmp = tmp_path_factory.mktemp('runs')
  wd = lambda name: f'--workdir={tmp / "workdirs" / name}'  # noqa: E731
  cases = {
    f'image_folder_{name}': IMAGE_FOLDER + [wd(name), arg]
    for name, arg in _folders(tmp).items()
  }
  # lenet5 diverges within 10 steps at this learning rate (synthetic data
  # at Fashion-MNIST's shape: no dataset to load).
  cases['diverged'] = MAIN + [
    wd('nan'),
    '--config.learning_rate=1e9',
    '--config.dataset=synthetic',
    '--config.synthetic_shape=(28, 28, 1)',
    '--config.synthetic_examples=1000',
    '--config.validation_examples=0',
    '--config.log_every_steps=10',
    '--config.num_train_steps=20',
    '--config.eval_every_epochs=None',
    '--config.cpu_tuning=none',
  ]
  return _run_all(cases)


@pytest.mark.parametrize(
  'case, expected',
  [
    (
      'image_folder_no_such_folder',
      ['no_such_folder does not exist.', '--config.image_folder=DIR'],
    ),
    ('image_folder_a_file', ['a_file is a file, not a folder.']),
    (
      'image_folder_one_class',
      ['has one class folder (cat); a classifier needs at least two'],
    ),
    (
      'image_folder_empty_class',
      ["Class 'dog' (", 'has no images', 'add some, or remove the folder'],
    ),
    (
      'image_folder_val_only_class',
      ['val/bird is a class that', 'train lacks: add', 'or remove it'],
    ),
    (
      'image_folder_no_images',
      ['none of its 2 class folders in', '(cat, dog) has images'],
    ),
    (
      'image_folder_unreadable',
      [
        '2 file(s) cannot be read as images:',
        'cat/notes.jpg (UnidentifiedImageError: cannot identify image file)',
        'dog/cut.jpg (OSError: ',
        '--config.skip_unreadable_images=True to leave them out.',
      ],
    ),
    (
      'diverged',
      [
        'Error: The training loss became nan between steps 0 and 10. No '
        'checkpoint had been saved yet. Lower the learning rate',
      ],
    ),
  ],
)
def test_data_and_run_errors_are_one_message(run_results, case, expected):
  message = _one_message(run_results[case], *expected)
  assert message.count('\n') == 1, message  # a single line


def test_debug_shows_the_traceback(results):
  for case in ('batch_zero_debug', 'summary_debug'):
    code, stderr, _ = results[case]
    assert code != 0
    assert 'Traceback' in stderr, stderr[-3000:]
    assert 'Error' in stderr.strip().splitlines()[-1]


def test_bugs_keep_their_traceback(results):
  code, stderr, _ = results['bug']
  assert code == 1
  assert 'Traceback' in stderr and 'RuntimeError: a bug' in stderr
