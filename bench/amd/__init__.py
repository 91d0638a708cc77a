"""Answering-machine detection bench (`make bench-amd`, docs/bench-amd.md).

For each shipped synthetic greeting (bench/amd/greetings/, see catalogue.py) and each tuning in
TUNINGS, the SUT Asterisk (asterisk-conf/, as deployed) calls the phone simulator; the simulator
answers and plays the greeting; the bench, standing in for Holdfast's Stasis application, does
what the service does with an `amd: true` campaign call: the tuning goes on the originate as the
channel variable HOLDFAST_AMD_ARGS (app.config.amd.amd_variables), the answered channel is
continued to [holdfast-amd], and AMD()'s verdict comes back as Stasis(holdfast,amd,<status>,<cause>).
Time to decision is Asterisk's own timestamps: the StasisStart of the answer to the StasisStart of
the verdict.
"""
