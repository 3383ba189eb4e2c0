"""Faster kernels and runtime settings for the CPU (and any XLA backend).

* :mod:`cnn_jax.ops.conv`: a drop-in ``conv_general_dilated`` for
  ``flax.linen.Conv`` (same parameters) with a custom backward pass.
* :mod:`cnn_jax.ops.cpu_tuning`: XLA:CPU flags and process settings that make
  the train step faster on a CPU host, applied before JAX starts its backend.
"""
