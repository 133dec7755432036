"""`python -m sgdtricks.reproduce`: every study of a profile, then the reports (code: sgdtricks/study/reproduce.py).

A public entry point that stays put whatever moves behind it.
"""

import sys

from sgdtricks.study.reproduce import main

if __name__ == "__main__":
    sys.exit(main())
