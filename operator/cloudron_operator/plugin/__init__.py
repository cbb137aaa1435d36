"""kubectl-cloudron: a kubectl plugin for Cloudron apps."""
