"""`python -m bench [--quick] [...]`: the wait-estimate benchmark (see bench/wait_estimate.py).
`python -m bench api [...]`: the API throughput benchmark (see bench/api_throughput.py).
`python -m bench store [...]`: engine events per second by store (see bench/store_throughput.py)."""

import sys

if sys.argv[1:2] == ["store"]:
    from bench.store_throughput import main as store_main

    sys.exit(store_main(sys.argv[2:]))

if sys.argv[1:2] == ["api"]:
    from bench.api_throughput import main as api_main

    sys.exit(api_main(sys.argv[2:]))

from bench.wait_estimate import main

sys.exit(main(sys.argv[1:]))
