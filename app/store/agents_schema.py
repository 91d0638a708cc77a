"""Agent rows' columns added after the first schema.

An agent's pause or log-out asked for during a call (SQLite migration 9, PostgreSQL migration 10).
An agent who asks to pause or log out while on a call (or in wrap-up) makes the move when the
call ends (app/core/agents.py, `Agent.after_call`). It is stored with the agent's state, so a
restart before the call's end still makes it: the agent who logged out and went home is not rung
for the next caller. NULL: no move asked for.

The wrap-up's end (SQLite migration 12, PostgreSQL migration 13): when an agent in wrap-up is
free again, their extensions (`WrapUpExtended`) included, so a restart resumes the wrap-up the
agent has, not the configured one. NULL out of wrap-up, and in rows written before the column
(those are restored as before: since + the longest wrap-up of the agent's queues).

The extension granted in that wrap-up (SQLite migration 13, PostgreSQL migration 14): the seconds
that count against `service.max_wrap_up_extension`. The call's queue is not stored, so counted back
from the end it is only end - since - the longest wrap-up of the agent's queues: too little when
the call's queue has a shorter one, and the agent got more than the cap after a restart. NULL when
wrap_up_until is, and in rows written before the column (those keep that count).
"""

from __future__ import annotations

AGENT_AFTER_CALL = """
    ALTER TABLE agent_states ADD COLUMN after_call TEXT;
    ALTER TABLE agent_states ADD COLUMN after_call_reason TEXT;
"""

SQLITE_AGENT_WRAP_UP_UNTIL = """
    ALTER TABLE agent_states ADD COLUMN wrap_up_until REAL;
"""

POSTGRES_AGENT_WRAP_UP_UNTIL = """
    ALTER TABLE agent_states ADD COLUMN wrap_up_until DOUBLE PRECISION;
"""

SQLITE_AGENT_WRAP_UP_EXTENDED = """
    ALTER TABLE agent_states ADD COLUMN wrap_up_extended REAL;
"""

POSTGRES_AGENT_WRAP_UP_EXTENDED = """
    ALTER TABLE agent_states ADD COLUMN wrap_up_extended DOUBLE PRECISION;
"""
