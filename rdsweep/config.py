"""Typed configuration: the dataclasses behind ``rdsweep/conf/*.yaml``, registered in Hydra's ConfigStore.

Types are checked when Hydra composes the config (``train.epochs=one`` fails there); ranges and names by the
dataclasses' ``__post_init__`` (``validate``): the entry point composes and validates every job's config
before Hydra runs anything or makes any directory. The run's
identity (what a checkpoint must agree with), its record header (metrics.json) and its name (run directory)
are defined here once.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from rdsweep import models
from rdsweep.coding import rdo
from rdsweep.data.download import default_dir
from rdsweep.entropy.densities import PRIORS
from rdsweep.errors import RdsweepError
from rdsweep.models.layers import QUANTIZERS, SOFT_ALPHA
from rdsweep.models.precision import PRECISIONS

FLOAT32_MAX = 3.4028234663852886e38


class Source(Enum):
    auto = "auto"  # the IDX directory when it holds the files, else tensorflow-datasets
    idx = "idx"
    tfds = "tfds"


class Distortion(Enum):
    mae = "mae"  # the TFC tutorial's
    mse = "mse"  # the report's formula
    ms_ssim = "ms_ssim"  # 1 - MS-SSIM (three scales: rdsweep/distortion.py)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass
class DataConfig:
    name: str = "mnist"
    source: Source = Source.auto
    dir: Optional[str] = None  # the IDX files (train-images-idx{3,4}-ubyte[.gz], t10k-...); None: the default rule
    mirrors: Optional[List[str]] = None  # download sources (base URLs) of a named dataset; None: its canonical ones
    train_file: Optional[str] = None  # instead of dir: an IDX or .npy file of uint8 images
    test_file: Optional[str] = None
    tfds_name: str = "mnist"  # the tensorflow-datasets name (source tfds or auto)
    train_limit: Optional[int] = None  # use only the first N digits (quick runs)
    test_limit: Optional[int] = None

    def __post_init__(self):
        for key in ("train_limit", "test_limit"):
            value = getattr(self, key)
            _check(value is None or 1 <= value <= 10**9, f"data.{key} must be 1..1e9 or null, not {value}")


@dataclass
class TrainConfig:
    epochs: int = 5  # Table 1 of the report was made after 5 epochs
    batch_size: int = 128
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"  # constant, or cosine: from learning_rate down to 1% of it over train.epochs
    quantizer: str = "noise"  # noise, ste, mixed or soft: what stands for rounding while training (models/layers.py)
    rate_warmup: float = 0.0  # epochs over which the rate's weight in the loss rises from 0 to 1 (0: none)
    lr_warmup: float = 0.0  # epochs over which the learning rate rises linearly from 0 (0: none)
    precision: str = "float32"  # float32, or bf16: the transforms' matmuls and convs (models/precision.py)

    def __post_init__(self):
        _check(1 <= self.epochs <= 10**6, f"train.epochs must be 1..1e6, not {self.epochs}")
        _check(1 <= self.batch_size <= 65536, f"train.batch_size must be 1..65536, not {self.batch_size}")
        _check(0 < self.learning_rate <= 1e3, f"train.learning_rate must be in (0, 1000], not {self.learning_rate}")
        _check(self.lr_schedule in ("constant", "cosine"),
               f"train.lr_schedule must be constant or cosine, not {self.lr_schedule!r}")
        _check(0 <= self.rate_warmup <= 1000, f"train.rate_warmup must be 0..1000 epochs, not {self.rate_warmup}")
        _check(0 <= self.lr_warmup < self.epochs,
               f"train.lr_warmup must be 0 or more epochs, fewer than train.epochs={self.epochs}, not "
               f"{self.lr_warmup}")
        _check(self.precision in PRECISIONS, f"train.precision must be one of {', '.join(PRECISIONS)}, not "
                                             f"{self.precision!r}")
        _check(self.quantizer in QUANTIZERS, f"train.quantizer must be one of {', '.join(QUANTIZERS)}, not "
                                             f"{self.quantizer!r}")


@dataclass
class CodecConfig:
    tail_mass: float = 2.0**-8  # as TFC: mass outside each table, coded through the escape bin
    rdo_rounds: int = 0  # the encoder's search for the symbols of least rate + lmbda * distortion (coding/rdo.py)

    def __post_init__(self):
        _check(1e-12 <= self.tail_mass < 0.5, f"codec.tail_mass must be in [1e-12, 0.5), not {self.tail_mass}")
        _check(0 <= self.rdo_rounds <= rdo.MAX_ROUNDS, f"codec.rdo_rounds must be 0..{rdo.MAX_ROUNDS}, not "
                                                       f"{self.rdo_rounds}")


@dataclass
class EvalConfig:
    batch_size: int = 1000  # digits per transform call when evaluating

    def __post_init__(self):
        _check(1 <= self.batch_size <= 65536, f"eval.batch_size must be 1..65536, not {self.batch_size}")


@dataclass
class LoggerConfig:
    name: str = "none"  # none, or tensorboard (rdsweep/experiment/logger.py)
    every_n_steps: int = 10  # scalars every N training steps
    images: int = 8  # test digits shown reconstructed after every epoch

    def __post_init__(self):
        _check(self.name in ("none", "tensorboard"), f"logger.name must be none or tensorboard, not {self.name!r}")
        _check(1 <= self.every_n_steps <= 10**6, f"logger.every_n_steps must be 1..1e6, not {self.every_n_steps}")
        _check(0 <= self.images <= 64, f"logger.images must be 0..64, not {self.images}")


BASELINE_METHODS = ["dct", "blockdct", "pca", "png", "webp_lossless", "jpeg", "webp", "jpeg2000", "avif", "jpegxl"]


@dataclass
class BaselinesConfig:
    """``task=baselines`` (conf/experiment/baselines.yaml): classical transform coding and image codecs."""

    methods: List[str] = field(default_factory=lambda: list(BASELINE_METHODS))
    steps: Optional[List[float]] = None  # quantizer steps of the transforms (0..255 scale); None: 4 .. 1024

    def __post_init__(self):
        unknown = [m for m in self.methods if m not in BASELINE_METHODS]
        _check(len(self.methods) > 0 and not unknown,
               f"baselines.methods: one or more of {', '.join(BASELINE_METHODS)}, not {list(self.methods)}")
        _check(self.steps is None or (0 < len(self.steps) <= 1000 and all(0 < s <= 1e6 for s in self.steps)),
               f"baselines.steps: 1 to 1000 steps in (0, 1e6], not {self.steps}")


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: Any = MISSING  # a model's config (conf/model/<name>.yaml, its dataclass in rdsweep/models/<name>.py)
    prior: Any = MISSING  # a density's config (conf/prior/<name>.yaml, rdsweep/entropy/densities.py)
    lmbda: float = 500.0  # loss = rate (bits/digit) + lmbda * distortion
    distortion: Distortion = Distortion.mae
    latent_dims: int = 50
    seed: int = 0  # init, shuffling and noise all derive from it
    train: TrainConfig = field(default_factory=TrainConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    progress: Optional[bool] = None  # progress bars: null = only on a terminal
    pin_core: bool = False  # run on one CPU core no other rdsweep run holds (parallel sweep jobs: LAUNCHER=joblib)
    task: str = "train"  # train (one lambda), or baselines (the classical baselines into the run directory)
    target_bits: Optional[float] = None  # the rate this run's lambda was placed for (experiment.targets)
    search: bool = False  # a run of the lambda search (its record is not a result: the aggregation leaves it out)
    baselines: BaselinesConfig = field(default_factory=BaselinesConfig)
    name: str = "${rdsweep_name:}"  # the run's name (run and sweep directories), from the settings

    def __post_init__(self):
        _check(0 < self.lmbda <= FLOAT32_MAX, f"lmbda must be a number > 0 and <= 3.4e38 (float32), not {self.lmbda}")
        _check(1 <= self.latent_dims <= 4096, f"latent_dims must be 1..4096, not {self.latent_dims}")
        _check(0 <= self.seed < 2**32, f"seed must be 0..2**32-1, not {self.seed}")
        _check(self.task in ("train", "baselines"), f"task must be train or baselines, not {self.task!r}")
        _check(self.target_bits is None or 0.1 <= self.target_bits <= 1e6,
               f"target_bits must be in [0.1, 1e6] bits/digit, not {self.target_bits}")
        for group, known in (("model", models.MODELS), ("prior", PRIORS)):
            name = getattr(self, group).name
            _check(name in known, f"{group}.name: unknown {group} {name!r}; choose one of {', '.join(sorted(known))}")


def register() -> None:
    """Put the schemas in Hydra's ConfigStore (the yaml files extend them) and the name resolvers."""
    cs = ConfigStore.instance()
    cs.store(group="schema", name="config", node=Config)
    for name, cls in models.MODELS.items():
        cs.store(group="schema/model", name=name, node=cls.Config)
    for name, (_, cls) in PRIORS.items():
        cs.store(group="schema/prior", name=name, node=cls)
    if not OmegaConf.has_resolver("rdsweep_name"):
        OmegaConf.register_new_resolver("rdsweep_name", lambda *, _root_: run_name(_root_))
        OmegaConf.register_new_resolver("rdsweep_lmbda", lambda x: f"{float(x):g}")
        OmegaConf.register_new_resolver("rdsweep_data_dir", default_dir)


def validate(cfg) -> Config:
    """The composed config as dataclasses, every range and name checked; RdsweepError in one line."""
    unknown = sorted(set(cfg) - {f.name for f in dataclasses.fields(Config)} - {"hydra"})
    if "experiment" in unknown:
        raise RdsweepError(f"no experiment {cfg.experiment!r}: experiments are conf/experiment/<name>.yaml, found "
                           "from the working directory (run from rdsweep's checkout, or add --config-dir DIR)")
    if unknown:
        raise RdsweepError(f"unknown setting {unknown[0]!r} (a typo? see python -m rdsweep --cfg job)")
    try:
        return OmegaConf.to_object(cfg)
    except Exception as e:  # noqa: BLE001 - ValueError from __post_init__, OmegaConf's errors
        raise RdsweepError(one_line(e)) from None


def one_line(e: BaseException) -> str:
    """An exception's message on one line: Hydra's and OmegaConf's multi-line messages reduced to what
    matters (the override, the reason, the available options)."""
    text = str(e)
    cause = str(e.__cause__).splitlines()[0] if e.__cause__ and str(e.__cause__) else ""
    if text.startswith("Error merging override ") and cause:
        return f"{text.split(' ', 3)[3].strip()}: {cause}"
    if "Available options" in text:
        head, options = text.split("Config search path")[0].split("Available options", 1)
        names = [w for w in options.split()[2:] if not w.endswith(":")]
        return f"{' '.join(head.split())}; available options in {options.split()[1]} {', '.join(names)}"
    first = text.splitlines()[0] if text else type(e).__name__
    return f"{first} ({cause})" if cause and cause not in first else first


def as_dict(node) -> dict:
    return node if isinstance(node, dict) else (
        dataclasses.asdict(node) if dataclasses.is_dataclass(node) else OmegaConf.to_container(node, resolve=True))


def identity(cfg) -> dict:
    """What a checkpoint must agree with to be resumed: every setting that changes the training trajectory
    (a cosine schedule and the soft rounding's alpha schedule span train.epochs, so there the epochs belong to
    it, and with soft rounding that schedule's ends; a run pinned to one core sums in another order than one on
    all cores, so pin_core does too)."""
    train = cfg.train
    extra = {"lr_schedule": "cosine"} if train.lr_schedule == "cosine" else {}
    extra.update({"epochs": int(train.epochs)} if train.lr_schedule == "cosine" or train.quantizer == "soft" else {})
    extra.update({"pin_core": True} if cfg.pin_core else {})
    extra.update({"quantizer": train.quantizer} if train.quantizer != "noise" else {})
    # training rounds factorized latents around their density's median (FactorizedPrior.median); checkpoints
    # made before that rounded at the integers, for a seed/gained y with these and any z with ste/soft
    rounded = train.quantizer in ("ste", "soft") or train.quantizer == "mixed" and cfg.model.name in ("seed", "gained")
    extra.update({"rounding": "median"} if rounded else {})
    extra.update({"soft_alpha": list(SOFT_ALPHA)} if train.quantizer == "soft" else {})
    extra.update({"rate_warmup": float(train.rate_warmup)} if train.rate_warmup else {})
    extra.update({"lr_warmup": float(train.lr_warmup)} if train.lr_warmup else {})
    extra.update({"precision": train.precision} if train.precision != "float32" else {})
    return {"lmbda": float(cfg.lmbda), "distortion": value_of(cfg.distortion), "latent_dims": int(cfg.latent_dims),
            "model": as_dict(cfg.model), "prior": as_dict(cfg.prior), "seed": int(cfg.seed), "data": cfg.data.name,
            "train_limit": cfg.data.train_limit, "batch_size": int(train.batch_size),
            "learning_rate": float(train.learning_rate), **extra}


def record(cfg) -> dict:
    """The settings at the head of a run's metrics.json (and, for lmbda..data, in its exported model)."""
    placed = {"target_bits": float(cfg.target_bits)} if cfg.target_bits is not None else {}
    return {"lmbda": float(cfg.lmbda), "model": cfg.model.name, "prior": cfg.prior.name,
            "distortion": value_of(cfg.distortion), "latent_dims": int(cfg.latent_dims),
            "epochs": int(cfg.train.epochs),
            "seed": int(cfg.seed), "data": cfg.data.name, "variant": variant(cfg), **placed,
            "precision": cfg.train.precision,
            **({"search": True} if cfg.search else {})}


def value_of(value) -> str:
    return value.value if isinstance(value, Enum) else str(value)


_SHORT = {"train_limit": "n", "batch_size": "b", "learning_rate": "lr", "lr_schedule": "", "pin_core": "pinned",
          "quantizer": "", "rate_warmup": "warm", "lr_warmup": "lrwarm", "precision": ""}


def run_name(cfg) -> str:
    """``<data>-<model>-<prior>-<distortion>-d<latent>-e<epochs>-s<seed>``, then ``variant(cfg)``."""
    base = (f"{cfg.data.name}-{cfg.model.name}-{cfg.prior.name}-{value_of(cfg.distortion)}-d{cfg.latent_dims}"
            f"-e{cfg.train.epochs}-s{cfg.seed}")
    suffix = variant(cfg)
    return f"{base}-{suffix}" if suffix else base


def variant(cfg) -> str:
    """Every identity setting not in the run name's fixed part that differs from its default: ``n2000``
    (data.train_limit), ``b64``, ``lr0.002``, ``cosine``, ``hidden256``, ... then ``rdo<rounds>`` for the
    encoder's search (``codec.rdo_rounds``: not in the identity, training is the same), joined by '-'; a hash
    when that gets long."""
    default = {"train_limit": None, "batch_size": TrainConfig.batch_size, "learning_rate": TrainConfig.learning_rate,
               "lr_schedule": TrainConfig.lr_schedule, "pin_core": False, "quantizer": TrainConfig.quantizer,
               "rate_warmup": TrainConfig.rate_warmup, "lr_warmup": TrainConfig.lr_warmup,
               "precision": TrainConfig.precision}
    ident = identity(cfg)
    tags = [_SHORT[k] if isinstance(ident[k], bool) else f"{_SHORT[k]}{ident[k]:g}" if isinstance(ident[k], float)
            else f"{_SHORT[k]}{ident[k]}" for k in default if ident.get(k, default[k]) != default[k]]
    for group, defaults in (("model", _defaults(models.MODELS, cfg.model.name, lambda c: c.Config)),
                            ("prior", _defaults(PRIORS, cfg.prior.name, lambda c: c[1]))):
        for k, v in ident[group].items():
            if k != "name" and defaults is not None and v != defaults.get(k):
                text = "x".join(map(str, v)) if isinstance(v, list) else format(v, "g") if isinstance(v, float) else v
                tags.append(f"{k}{text}")
    tags += [f"rdo{cfg.codec.rdo_rounds}"] if cfg.codec.rdo_rounds else []  # the encoder's, not the training's
    suffix = "-".join(tags)
    return hashlib.sha256(suffix.encode()).hexdigest()[:8] if len(suffix) > 48 else suffix


def _defaults(registry, name, config_of) -> dict | None:
    return dataclasses.asdict(config_of(registry[name])()) if name in registry else None
