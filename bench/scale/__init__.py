"""Scale benchmark (`make bench-scale`): how many waiting callers one Holdfast + one Asterisk hold.

The real service (as bench/queue runs it, plus a latency probe: bench/scale/proc.py) on the sandbox
Asterisk; a second Asterisk (the e2e phone simulator) places callers and plays the 50 agents' phones.
Waiting callers are ramped in steps; at each step a few agents keep serving (each caller served is
replaced at once, so the number waiting stays at the step's level while the engine has events to
handle); the other agents are paused. At the end every agent is made ready and all callers are
served. Results: docs/bench-scale.md, .png, .json.
"""
