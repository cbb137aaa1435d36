"""cloudron-operator: run Cloudron app packages on Kubernetes."""

__version__ = "0.1.0"
