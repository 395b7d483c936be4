"""rdsweep's SLURM launcher: hydra-submitit-launcher's ``submitit_slurm`` whose failed runs exit non-zero.

With the stock launcher a run that raises still ends its SLURM job with exit code 0 (Hydra's ``run_job``
catches the exception and submitit pickles it as a successful result), so ``sacct`` says COMPLETED. Here a
failed run writes the same result file submitit writes on success (the sweep still collects every
``JobReturn`` and reports the failure), prints the traceback into the job's ``.err`` log and exits 1:
``sacct`` shows FAILED 1:0. Selected by ``rdsweep/conf/hydra/launcher/slurm.yaml`` (``_target_``).

Hydra imports every module under ``hydra_plugins`` at each start, so importing this one never fails: without
the ``launchers`` extra (hydra-submitit-launcher) it defines nothing. ``hydra_plugins`` is a namespace package
shared with the other plugins: it must not get an ``__init__.py``.
"""
from __future__ import annotations

import logging
import sys
import traceback

try:
    from hydra.core.utils import JobReturn, JobStatus
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
except Exception:  # `launchers` extra not installed (or unusable): nothing to define
    SlurmLauncher = None

__all__ = ["StrictSlurmLauncher"] if SlurmLauncher is not None else []

if SlurmLauncher is not None:

    class StrictSlurmLauncher(SlurmLauncher):
        """``submitit_slurm`` whose failed runs exit 1 (sacct FAILED) after saving their JobReturn."""

        def __call__(self, *args, **kwargs) -> JobReturn:
            ret = super().__call__(*args, **kwargs)  # on the node; run_job has caught the run's exception
            if ret.status != JobStatus.FAILED:
                return ret
            import submitit
            from submitit.core.utils import cloudpickle_dump, temporary_save_path

            traceback.print_exception(ret._return_value)  # the run's traceback into the job's .err log
            with temporary_save_path(submitit.JobEnvironment().paths.result_pickle) as tmp:
                cloudpickle_dump(("success", ret), tmp)  # what submitit writes on success: the sweep reads it
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            # SystemExit is no Exception: it passes submitit's `except Exception`, which would overwrite
            # the result with a bare traceback. Exit status 1 -> sacct FAILED 1:0.
            sys.exit(1)
