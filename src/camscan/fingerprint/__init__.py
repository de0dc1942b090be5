"""Identification from data: signatures/, the vendor catalogue and the IEEE OUI registry."""
