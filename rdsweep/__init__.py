"""rdsweep: learned image compression sweeps (JAX/Flax autoencoder, learned prior, real entropy coding).

Python API: ``codec = rdsweep.load("model.rdsm")`` (or a trained run directory), then
``codec.compress(images) -> bytes`` and ``codec.decompress(data) -> images`` (see rdsweep.codec).
Importing rdsweep changes nothing in the process (entry points call ``rdsweep.runtime.configure()``).
"""
from rdsweep import runtime  # noqa: F401 - cheap, and changes nothing until runtime.configure() is called

__version__ = "0.2.0"


def load(path, lmbda: float | None = None):
    """A codec (rdsweep.codec.Codec) from a model file (.rdsm) or a trained run directory (of a variable-rate
    model: at ``lmbda``)."""
    from pathlib import Path

    if Path(path).is_dir():
        from rdsweep.experiment.rundir import load_codec

        return load_codec(path, lmbda)
    from rdsweep.codec import Codec

    return Codec.from_file(path)


def __getattr__(name):  # the codec class on first use: importing rdsweep stays cheap (no JAX)
    if name == "Codec":
        from rdsweep.codec import Codec

        return Codec
    raise AttributeError(f"module 'rdsweep' has no attribute {name!r}")


__all__ = ["Codec", "load", "runtime", "__version__"]
