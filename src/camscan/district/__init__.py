"""District scale: sensors at each site run scans from a queue; the central keeps one inventory."""
