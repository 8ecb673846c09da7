#!/usr/bin/env python3
"""Send a local file to HTTP Ingest with retry handling."""
import os
import random
import sys
import time
import requests
API_URL = os.environ["HTTP_INGEST_URL"]
API_KEY = os.environ["HTTP_INGEST_KEY"]
# Status codes the HTTP Ingest API contract considers retryable.
RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}
def post(body: bytes, content_type: str, max_attempts: int = 5) -> None:
    headers = {  # restored: indentation
        "Authorization": f"Bearer {API_KEY}",  # restored: indentation
        "Content-Type": content_type,  # restored: indentation
    }  # restored: indentation
    backoff_cap = 60.0 # seconds  # restored: indentation
    backoff = 1.0  # restored: indentation
    for attempt in range(1, max_attempts + 1):  # restored: indentation
        response = requests.post(API_URL, data=body, headers=headers, timeout=30)  # restored: indentation
        status = response.status_code  # restored: indentation
        if status == 200:  # restored: indentation
            return  # restored: indentation
        # Non-retryable per the documented contract: stop immediately.  # restored: indentation
        if status == 400:  # restored: indentation
            sys.exit("400 Bad Request — inspect payload, headers, and encoding.")  # restored: indentation
        if status == 401:  # restored: indentation
            sys.exit("401 Unauthorized — verify the integration key and URL.")  # restored: indentation
        if status == 403:  # restored: indentation
            sys.exit("403 Forbidden — Integration may have been deleted; provision a new one.")  # restored: indentation
        if status == 413:  # restored: indentation
            sys.exit("413 Payload Too Large — split the body into smaller batches.")  # restored: indentation
        # Retryable: sleep with full-jitter backoff, then try again.  # restored: indentation
        if status in RETRYABLE_STATUS and attempt < max_attempts:  # restored: indentation
            sleep_for = random.uniform(0, min(backoff, backoff_cap))  # restored: indentation
            time.sleep(sleep_for)  # restored: indentation
            backoff *= 2  # restored: indentation
            continue  # restored: indentation
        sys.exit(f"Unexpected status {status}: {response.text}")  # restored: indentation
    sys.exit(f"Failed after {max_attempts} attempts.")  # restored: indentation
if __name__ == "__main__":
    if len(sys.argv) != 2:  # restored: indentation
        sys.exit(f"usage: {sys.argv[0]} <filename>")  # restored: indentation
    with open(sys.argv[1], "rb") as fd:  # restored: indentation
        post(fd.read(), content_type="text/plain")  # restored: indentation
