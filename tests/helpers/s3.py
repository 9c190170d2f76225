"""A real S3 server on loopback for the object-store tests: moto's ThreadedMotoServer
on 127.0.0.1, on a port the OS picks, with throwaway credentials. Nothing leaves
the machine: the endpoint is 127.0.0.1 and the EC2 metadata lookup is off."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass

import pytest

# Keep botocore away from the user's own AWS config and from 169.254.169.254.
BASE_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
CLEARED = ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
           "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int = 0):
    pytest.importorskip("s3fs")
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server


@dataclass
class S3:
    server: object
    port: int
    bucket: str

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """The environment a worker subprocess needs: the usual AWS variables, nothing of ablate's own."""
        env = {k: v for k, v in os.environ.items() if k not in CLEARED}
        return {**env, **BASE_ENV, "AWS_ENDPOINT_URL_S3": self.endpoint, "COLUMNS": "200"}

    def uri(self, *parts: str) -> str:
        return "/".join([f"s3://{self.bucket}", *parts])

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def new_bucket(server, monkeypatch) -> S3:
    """A fresh bucket on `server`, and this process's environment pointed at it."""
    port = server.get_host_and_port()[1]
    for key in CLEARED:
        monkeypatch.delenv(key, raising=False)
    for key, value in {**BASE_ENV, "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}"}.items():
        monkeypatch.setenv(key, value)
    s3 = S3(server, port, f"ablate-{uuid.uuid4().hex[:12]}")
    client = s3.client()
    client.create_bucket(Bucket=s3.bucket)
    # The leases need If-None-Match: * on PUT; say so plainly if this moto lacks it.
    client.put_object(Bucket=s3.bucket, Key="probe", Body=b"1", IfNoneMatch="*")
    try:
        client.put_object(Bucket=s3.bucket, Key="probe", Body=b"2", IfNoneMatch="*")
    except client.exceptions.ClientError:
        pass
    else:
        import moto

        pytest.skip(f"moto {moto.__version__} does not honour If-None-Match: * on PUT (conditional writes)")
    client.delete_object(Bucket=s3.bucket, Key="probe")
    return s3
