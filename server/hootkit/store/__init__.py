"""The classroom store: accounts, classes, devices, assignments, sessions, turns and the audit log (SQLAlchemy 2)."""
