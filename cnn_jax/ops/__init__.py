"""Convolutions and runtime settings for speed, on the CPU in particular.

* :mod:`cnn_jax.ops.conv`: the convolution every model calls (``Conv``, a
  ``flax.linen.Conv`` with the same parameters): oneDNN custom calls on the
  CPU backend, XLA's own convolutions on GPU/TPU.
* :mod:`cnn_jax.ops.pool`: max and average pooling, the same way.
* :mod:`cnn_jax.ops.custom_call`: what both share: primitives lowered per
  platform, the ``jax.ffi`` custom call, its partitioning over devices.
* :mod:`cnn_jax.ops.onednn`: loads the oneDNN library (``csrc/``, built by
  ``pip install .`` or, in a checkout, :mod:`cnn_jax.ops.build_onednn` from
  ``setup.sh``) and registers it with ``jax.ffi``.
* :mod:`cnn_jax.ops.cpu_tuning`: XLA:CPU flags and process settings applied
  before JAX starts its backend.
"""
