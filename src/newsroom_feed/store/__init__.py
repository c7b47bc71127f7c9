"""The store: the only door to SQL (connection, migrations and triggers, named queries)."""
