"""The image's HEALTHCHECK for the web role: exit 0 when ``/healthz`` on ``$PORT`` answers 200
(the database answers too), 1 otherwise. Python's standard library only: the image has no curl."""

import os
import sys
import urllib.request

URL = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz"

try:
    with urllib.request.urlopen(URL, timeout=4) as answer:  # noqa: S310 (a fixed http URL)
        sys.exit(0 if answer.status == 200 else 1)
except OSError as exc:  # refused, timed out, or an HTTP error status (503)
    print(f"{URL}: {exc}", file=sys.stderr)
    sys.exit(1)
