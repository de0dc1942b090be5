"""Probes: which ports get which conversation. Flows are sans-IO generators a transport drives."""
