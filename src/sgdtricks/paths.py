"""Where the checkout's parts are: the repository root (for git provenance, README) and conf/ (Hydra's configs).

The package is installed editable (`pip install -e .`), so both are found from this file.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SRC = REPO_ROOT / "src"  # on PYTHONPATH of the jobs a run starts, so they run this code and not another copy
CONF = REPO_ROOT / "conf"
