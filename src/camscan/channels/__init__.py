"""Channel inventory: after a recorder (NVR, DVR, video encoder) is identified, ask it which
cameras it records, since a network scan never sees analogue cameras on its coax inputs
nor IP cameras on the private network behind its PoE ports. A camera that says it has several
video inputs (a multi-sensor camera) is asked the same way for its sensors; any other camera
that answered ONVIF, or whose maker's API is ISAPI, is asked one question about its video
sources, within MAX_SOURCE_QUESTION_REQUESTS requests.

The recorder's own API is asked (Hikvision ISAPI, the Dahua HTTP API, else ONVIF media),
anonymously first and then with the credentials file's account for it, within
MAX_REQUESTS_PER_RECORDER requests. The camera addresses a recorder reports are recorded,
never contacted.
"""

from __future__ import annotations

# The bound the README promises: requests a channel inventory sends to one recorder, in all.
MAX_REQUESTS_PER_RECORDER = 16
# The bound the README promises for the one question about a camera's video sources (every
# camera that answered ONVIF or is Hikvision-made, whether it turns out to have one source or several).
MAX_SOURCE_QUESTION_REQUESTS = 2
