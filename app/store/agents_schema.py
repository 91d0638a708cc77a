"""An agent's pause or log-out asked for during a call (SQLite migration 9, PostgreSQL migration 10).

An agent who asks to pause or log out while on a call (or in wrap-up) makes the move when the
call ends (app/core/agents.py, `Agent.after_call`). It is stored with the agent's state, so a
restart before the call's end still makes it: the agent who logged out and went home is not rung
for the next caller. NULL: no move asked for.
"""

from __future__ import annotations

AGENT_AFTER_CALL = """
    ALTER TABLE agent_states ADD COLUMN after_call TEXT;
    ALTER TABLE agent_states ADD COLUMN after_call_reason TEXT;
"""
