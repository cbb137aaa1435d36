"""Everything that reaches into kopf beyond its handler decorators, in one place, tied to the pinned
kopf version (pyproject.toml) by its tests (`tests/unit/test_kopf_storage.py`, `test_resync.py`):

- `storage`: where kopf keeps what it handled of an app (its status) and a handler's progress;
- `workers`: kopf's executor for sync handlers, which says how many calls wait for a thread.

kopf watches only the operator's own kinds (apps and Addons) for its handlers; the store
(`cloudron_operator.store`) watches everything the operator reads.
"""
