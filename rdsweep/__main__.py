"""Hydra entry point: ``python -m rdsweep lmbda=500`` (one run) or ``python -m rdsweep -m lmbda=300,500`` (sweep)."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig

from hydra.types import RunMode

from rdsweep.checkpoint import FAILED, atomic_write_text
from rdsweep.errors import RdsweepError
from rdsweep.run import run

log = logging.getLogger("rdsweep")


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg) -> float | None:
    logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)  # "no TPU/GPU" chatter
    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    try:
        metrics = run(cfg, run_dir)
    except RdsweepError as e:
        print(f"rdsweep: error: {e}", file=sys.stderr)
        if hc.mode != RunMode.MULTIRUN:
            sys.exit(1)
        # in a sweep, record the failure and let Hydra go on with the other jobs (it reports failures at the end)
        log.error("rdsweep: error: %s", e)
        atomic_write_text(run_dir / FAILED, f"{e}\n")
        raise
    (run_dir / FAILED).unlink(missing_ok=True)
    return metrics["rate_info_bits"]


if __name__ == "__main__":
    main()
