"""benchsuite: a reproducibility benchmark suite for GAN training methods."""

__version__ = "0.1.0"
