"""Property-based fuzzing of CloudronApp, Addon, CloudronUser and manifest input (issue #25).

`strategies` generates the objects (valid, near-valid, hostile), `invariants` runs them through the
real API server and operator and checks what must hold; `tests/integration/test_fuzz.py` is the fast
slice, `python -m bench.fuzz` the long run.
"""
