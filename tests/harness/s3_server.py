"""A real S3 server on loopback: s3proxy (Apache-2.0) over a temporary directory,
fetched from Maven Central by hack/build-s3proxy.sh and run with the system's Java."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config

from tests.harness.ports import free_port, wait_until

REPO = Path(__file__).resolve().parents[2]
IDENTITY = "crawlfleet-test"
CREDENTIAL = "crawlfleet-test-credential"


class S3Server:
    def __init__(self, directory: Path) -> None:
        build = subprocess.run(
            [str(REPO / "hack" / "build-s3proxy.sh")], capture_output=True, text=True, check=False, timeout=600
        )
        if build.returncode != 0:
            raise RuntimeError(f"hack/build-s3proxy.sh failed: {build.stderr[-2000:]}")
        lib = build.stdout.strip()
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        (directory / "data").mkdir(parents=True, exist_ok=True)
        properties = directory / "s3proxy.conf"
        properties.write_text(
            "\n".join(
                [
                    f"s3proxy.endpoint={self.endpoint}",
                    "s3proxy.authorization=aws-v2-or-v4",
                    f"s3proxy.identity={IDENTITY}",
                    f"s3proxy.credential={CREDENTIAL}",
                    "jclouds.provider=filesystem-nio2",
                    f"jclouds.identity={IDENTITY}",
                    f"jclouds.credential={CREDENTIAL}",
                    f"jclouds.filesystem.basedir={directory / 'data'}",
                ]
            )
        )
        self.log_path = directory / "s3proxy.log"
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            ["java", "-DLOG_LEVEL=warn", "-cp", f"{lib}/*", "org.gaul.s3proxy.Main", "--properties", str(properties)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_until(self._answers, 120, f"s3proxy to answer (log: {self.log_path})", interval=0.2)
        self.client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=IDENTITY,
            aws_secret_access_key=CREDENTIAL,
            region_name="us-east-1",
            config=Config(request_checksum_calculation="when_required", response_checksum_validation="when_required"),
        )

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"s3proxy exited: {self.log_path.read_text()[-3000:]}")
        return httpx.get(self.endpoint, timeout=1).status_code in (200, 403)

    def env(self, *buckets: str) -> dict[str, str]:
        """The platform settings that point feeds at this server."""
        return {
            "CRAWLFLEET_FEEDS_S3_ENDPOINT_URL": self.endpoint,
            "CRAWLFLEET_FEEDS_S3_REGION": "us-east-1",
            "CRAWLFLEET_FEEDS_S3_ACCESS_KEY_ID": IDENTITY,
            "CRAWLFLEET_FEEDS_S3_SECRET_ACCESS_KEY": CREDENTIAL,
            "CRAWLFLEET_FEEDS_S3_BUCKETS": ",".join(buckets),
            # s3proxy, like several S3-compatible stores, predates the checksums boto3
            # sends by default since 1.36; botocore's own setting turns them off.
            "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
            "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
        }

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        listing: dict[str, Any] = self.client.list_objects_v2(Bucket=bucket, Prefix=prefix)
        return sorted(entry["Key"] for entry in listing.get("Contents", []))

    def read(self, bucket: str, key: str) -> str:
        body: str = self.client.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        return body

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.log.close()
