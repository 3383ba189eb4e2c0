"""cnn_jax: landmark convolutional networks in pure JAX/Flax."""
