"""Input pipelines: TFDS + tf.data, and a synthetic dataset for benchmarks."""
