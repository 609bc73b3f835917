"""The teacher dashboard: its pages (static/) and its JSON API under /api."""
