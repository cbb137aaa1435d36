"""CustomResourceDefinitions derived from `cloudron_operator.models`, written by `crdgen`."""
