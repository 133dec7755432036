"""The W&B dashboard as code: a saved workspace with a section per study and a report per profile.

spec.py builds it as plain data (no network, no account); save.py turns that into wandb_workspaces objects
and saves them; `python -m sgdtricks.dashboard` (`make dashboard`) does both, or prints the spec (--dry-run).
"""
