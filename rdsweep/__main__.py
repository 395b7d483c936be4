"""Hydra entry point: ``python -m rdsweep lmbda=500`` (one run) or ``python -m rdsweep -m lmbda=300,500`` (sweep)."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig

from rdsweep.errors import RdsweepError
from rdsweep.run import run

log = logging.getLogger("rdsweep")


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg) -> float | None:
    logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)  # "no TPU/GPU" chatter
    try:
        metrics = run(cfg, Path(HydraConfig.get().runtime.output_dir))
    except RdsweepError as e:
        log.error("rdsweep: error: %s", e)
        print(f"rdsweep: error: {e}", file=sys.stderr)
        sys.exit(1)
    return metrics["rate_info_bits"]


if __name__ == "__main__":
    main()
