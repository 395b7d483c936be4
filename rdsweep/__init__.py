"""rdsweep: learned image compression sweeps (JAX/Flax autoencoder, learned prior, real range coding)."""

__version__ = "0.1.0"
