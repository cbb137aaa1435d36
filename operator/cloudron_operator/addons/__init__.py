"""Addons: the one lifecycle every addon type goes through (`flow`), the backend of each type
(`sql`, `redis`, `sendmail`), which Addon serves an app (`plan`), and the Addons' logins (`logins`).

A new addon type is one module with a class that implements `base.AddonBackend`, added to
`registry.standard_backends`.
"""
