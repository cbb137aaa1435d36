"""Backups: the program a backup or restore Job runs, and the store it writes to."""
