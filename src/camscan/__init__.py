"""camscan: find and identify the CCTV cameras, DVRs and NVRs on networks you are authorised to scan."""

__version__ = "0.1.0"
