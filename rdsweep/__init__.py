"""rdsweep: learned image compression sweeps (JAX/Flax autoencoder, learned prior, real entropy coding).

Python API: ``codec = rdsweep.load("model.rdsm")`` (or a trained run directory), then
``codec.compress(images) -> bytes`` and ``codec.decompress(data) -> images`` (see rdsweep.codec).
Importing rdsweep changes nothing in the process (entry points call ``rdsweep.runtime.configure()``).
"""
from rdsweep import runtime  # noqa: F401 - cheap, and changes nothing until runtime.configure() is called

__version__ = "0.2.0"


def __getattr__(name):  # the codec on first use: importing rdsweep stays cheap (no JAX)
    if name in ("load", "Codec"):
        from rdsweep import codec

        return getattr(codec, name)
    raise AttributeError(f"module 'rdsweep' has no attribute {name!r}")


__all__ = ["Codec", "load", "runtime", "__version__"]
