"""Notifications: what the core asks to tell someone (Notify) becomes outbox rows committed with
the step (planner.py), delivered by a worker with retries (worker.py) through channels
(channels.py: signed webhooks, an HTTP SMS gateway) with messages from templates (templates.py)."""
