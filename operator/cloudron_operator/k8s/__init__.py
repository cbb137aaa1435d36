"""The only layer that talks to the Kubernetes API: client, server-side apply, errors."""
