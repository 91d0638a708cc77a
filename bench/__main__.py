"""`python -m bench [--quick] [...]`: the wait-estimate benchmark (see bench/wait_estimate.py)."""

import sys

from bench.wait_estimate import main

sys.exit(main(sys.argv[1:]))
