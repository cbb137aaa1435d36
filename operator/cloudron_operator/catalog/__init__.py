"""App catalogs: `CloudronVersions.json` documents parsed and checked (`document`), version order
(`versions`), which version an app may move to (`rules`), reading them from a URL or a ConfigMap
(`fetch`), their listing in an AppCatalog's status (`listing`), the catalogs the operator has read
(`cache`), and durations as specs write them (`durations`)."""
