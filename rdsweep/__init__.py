"""rdsweep: learned image compression sweeps (JAX/Flax autoencoder, learned prior, real entropy coding)."""
from rdsweep.xla import configure as _configure_xla

__version__ = "0.1.0"

_configure_xla()  # before JAX starts its backend: XLA reads XLA_FLAGS once
