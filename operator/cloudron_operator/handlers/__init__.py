"""kopf handlers. Importing this package registers them with kopf's default registry."""

from cloudron_operator.handlers import lifecycle

__all__ = ["lifecycle"]
