"""The local environment: a real Kubernetes control plane and real database servers on loopback.

Used by the pytest fixtures (tests/conftest.py), the benchmarks and `make demo`.
"""
