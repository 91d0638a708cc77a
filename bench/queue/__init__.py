"""Queue benchmark (issue 13): Holdfast vs Asterisk's app_queue, same Asterisk, same seeded workload.

`python -m bench.queue [--quick]` (or `make bench-queue`) writes docs/bench-queue.md, .png and .json.
Modules: workload (the seeded callers), systems (Asterisk instances, the Holdfast process, /proc CPU),
driver (plays a workload and records timestamps), metrics (figures), report (the page), profile
(py-spy's top frames), hold_experiment (SUT CPU of callers held in a bridge or by channel music).
Before/after a change in the same run: `--base-tree <checkout of the old commit> --label after`.
"""
