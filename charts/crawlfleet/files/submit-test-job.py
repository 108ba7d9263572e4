"""`helm test`: submit a one-page crawl through the API and wait for SUCCESS."""

import os
import sys
import time

import httpx

api = os.environ["API_URL"]
token = os.environ["API_TOKENS"].split(",")[0].strip()
deadline = time.monotonic() + int(os.environ["TIMEOUT_SECONDS"])
spec = {
    "startUrls": [os.environ["CRAWL_URL"]],
    "maxPages": 1,
    "maxDepth": 0,
    "followLinks": False,
    "queue": os.environ["QUEUE"],
}
with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
    while True:
        try:
            response = client.post("/v1/jobs", json=spec)
            break
        except httpx.TransportError as error:
            if time.monotonic() > deadline:
                sys.exit(f"the API at {api} is unreachable: {error}")
            time.sleep(2)
    if response.status_code != 202:
        sys.exit(f"POST /v1/jobs answered {response.status_code}: {response.text}")
    job_id = response.json()["id"]
    print(f"submitted job {job_id}: crawl {spec['startUrls'][0]} on queue {spec['queue']}", flush=True)
    state = None
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] != state:
            state = job["state"]
            print(f"job {job_id}: {state}", flush=True)
        if state == "SUCCESS":
            print(f"result: {job.get('result')}")
            sys.exit(0)
        if state in ("FAILURE", "REVOKED"):
            sys.exit(f"job {job_id} ended {state}: {job.get('error')}")
        time.sleep(1)
    sys.exit(f"job {job_id} still {state} after {os.environ['TIMEOUT_SECONDS']} s")
