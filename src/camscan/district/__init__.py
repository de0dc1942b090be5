"""District scale: sensors at each site run scans from a queue; the central keeps one inventory."""

# Longer than the longest scan: a task unacknowledged this long is delivered again. Here, not in
# queue.py, so that the CLI's option can name it without importing the queue (and its crypto)
# on every command.
DEFAULT_VISIBILITY_TIMEOUT = 6 * 3600
