"""The child processes of the e2e tests: scripts run as ``python -m tests.e2e.scripts.NAME``."""
