"""``python -m rdsweep``: the training entry point (see rdsweep.experiment.entry)."""
from rdsweep.experiment.entry import main

if __name__ == "__main__":
    main()
