"""`python -m sgdtricks.train` and `sgdtricks-train`: one training run (the code is in sgdtricks/run/trainer.py).

A public entry point that stays put whatever moves behind it.
"""

from sgdtricks.run.trainer import main

if __name__ == "__main__":
    main()
