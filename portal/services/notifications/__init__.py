"""Notifications: events recorded in the outbox, fanned out to subscribed users and
programme webhooks, sent by workers (``jobs.notify``). See docs/notifications.md.

- ``events``: record an event in the caller's transaction; enqueue after commit.
- ``recipients``: who receives an event (subscriptions, role defaults, scoping).
- ``subscriptions`` / ``webhooks`` / ``expected``: the use cases behind the pages.
- ``delivery``: fan-out, sending, retries with back-off, daily digests.
- ``ticks``: the scheduler's notification pass (escalations, late data, retries).
"""
