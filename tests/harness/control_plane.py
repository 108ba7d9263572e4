"""A real Kubernetes control plane on loopback: etcd, kube-apiserver and
kube-controller-manager, built from upstream sources by hack/build-control-plane.sh.

There is no kubelet, so Pods never run; everything above them does (admission,
CRDs with CEL validation, RBAC, Deployments getting ReplicaSets and Pods, the
scale subresource), which is what the chart, the CRDs and the operator need.

The API server authenticates an admin by a client certificate in the group
`system:masters`, so the kubeconfig is a single self-contained file that kubectl,
helm, kopf and kubernetes-asyncio all read alike.

`python -m tests.harness.control_plane --kubeconfig PATH` runs one in the
foreground, with the same code the tests use (`make dev-k8s` runs it with a node:
tests/harness/node.py)."""

from __future__ import annotations

import argparse
import base64
import ctypes
import datetime
import ipaddress
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.harness.ports import free_port, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "hack" / "build-control-plane.sh"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")
SERVICE_CIDR = "10.0.0.0/24"
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Take the process down with the harness: a test run killed outright must
    not leave an API server and etcd behind. Linux only; elsewhere stop() is all."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class ControlPlaneUnavailableError(RuntimeError):
    """The binaries could not be had; tests that need them must fail, not skip."""


def asset_dir() -> Path:
    """Where the binaries are: `KUBEBUILDER_ASSETS` (envtest's convention), else
    the build script's cache, which builds them on first use."""
    configured = os.environ.get("KUBEBUILDER_ASSETS")
    if configured:
        directory = Path(configured)
    else:
        try:
            built = subprocess.run(
                ["bash", str(BUILD_SCRIPT)], check=True, stdout=subprocess.PIPE, text=True, timeout=3600
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
            raise ControlPlaneUnavailableError(f"{BUILD_SCRIPT} could not build the control plane: {error}") from error
        directory = Path(built.stdout.strip().splitlines()[-1])
    missing = [name for name in BINARIES if not os.access(directory / name, os.X_OK)]
    if missing:
        raise ControlPlaneUnavailableError(
            f"{directory} lacks {', '.join(missing)}; unset KUBEBUILDER_ASSETS or run {BUILD_SCRIPT}"
        )
    return directory


@dataclass
class Credentials:
    """A CA, the API server's serving certificate, an admin client certificate and
    the key that signs service account tokens, written as PEM files."""

    directory: Path
    # Addresses the API server is reached at, besides its Service's 10.0.0.1.
    server_addresses: tuple[str, ...] = ("127.0.0.1",)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "crawlfleet-test-ca")])
        self._ca = (ca_key, ca_name)
        ca_cert = (
            self._builder(ca_name, ca_name, ca_key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(ca_key, hashes.SHA256())
        )
        self._write("ca.crt", ca_cert.public_bytes(serialization.Encoding.PEM))
        self._issue(
            "apiserver",
            ca_key=ca_key,
            ca_name=ca_name,
            common_name="kube-apiserver",
            groups=[],
            usage=ExtendedKeyUsageOID.SERVER_AUTH,
            alt_names=[
                *(x509.IPAddress(ipaddress.ip_address(address)) for address in self.server_addresses),
                x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
                x509.DNSName("localhost"),
                x509.DNSName("kubernetes.default.svc"),
            ],
        )
        self._issue(
            "admin",
            ca_key=ca_key,
            ca_name=ca_name,
            common_name="crawlfleet-admin",
            groups=["system:masters"],
            usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        )
        # Service account tokens are signed with RSA by convention; the API server checks them with the public half.
        signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._write("sa.key", self._private_pem(signing_key))
        self._write(
            "sa.pub",
            signing_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )

    def path(self, name: str) -> Path:
        return self.directory / name

    def issue_client(self, name: str, common_name: str, groups: list[str]) -> None:
        """A client certificate `<name>.crt` for another identity (a node, a component)."""
        ca_key, ca_name = self._ca
        self._issue(
            name,
            ca_key=ca_key,
            ca_name=ca_name,
            common_name=common_name,
            groups=groups,
            usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        )

    def _write(self, name: str, data: bytes) -> None:
        path = self.path(name)
        path.write_bytes(data)
        path.chmod(0o600)

    @staticmethod
    def _private_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @staticmethod
    def _builder(
        subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
    ) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
        )

    def _issue(
        self,
        name: str,
        *,
        ca_key: ec.EllipticCurvePrivateKey,
        ca_name: x509.Name,
        common_name: str,
        groups: list[str],
        usage: x509.ObjectIdentifier,
        alt_names: list[x509.GeneralName] | None = None,
    ) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups]
            + [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        )
        builder = self._builder(subject, ca_name, key.public_key()).add_extension(
            x509.ExtendedKeyUsage([usage]), critical=False
        )
        if alt_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        self._write(f"{name}.crt", cert.public_bytes(serialization.Encoding.PEM))
        self._write(f"{name}.key", self._private_pem(key))


def write_kubeconfig(path: Path, server_url: str, credentials: Credentials, user: str = "admin") -> None:
    """A kubeconfig with everything embedded, so it can be copied anywhere; the
    admin's, or that of the identity whose certificate is `<user>.crt`."""

    def embedded(name: str) -> str:
        return base64.b64encode(credentials.path(name).read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "crawlfleet", "cluster": {"server": server_url, "certificate-authority-data": embedded("ca.crt")}}
        ],
        "users": [
            {
                "name": "crawlfleet-admin",
                "user": {
                    "client-certificate-data": embedded(f"{user}.crt"),
                    "client-key-data": embedded(f"{user}.key"),
                },
            }
        ],
        "contexts": [
            {
                "name": "crawlfleet",
                "context": {"cluster": "crawlfleet", "user": "crawlfleet-admin", "namespace": "default"},
            }
        ],
        "current-context": "crawlfleet",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)


@dataclass
class ControlPlane:
    """A Kubernetes API to test against: started here, or an existing cluster."""

    kubeconfig: Path
    assets_dir: Path
    server_url: str
    credentials: Credentials | None = None
    processes: list[tuple[str, subprocess.Popen[bytes], Path]] = field(default_factory=list)
    logs: list[IO[bytes]] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        directory: Path,
        kubeconfig: Path | None = None,
        assets: Path | None = None,
        address: str = "127.0.0.1",
        apiserver_args: Sequence[str] = (),
    ) -> ControlPlane:
        """Start etcd, the API server and the controller manager. The API server
        serves on `address` (loopback unless a node must reach it), with
        `apiserver_args` added to its flags."""
        assets = assets or asset_dir()
        directory.mkdir(parents=True, exist_ok=True)
        credentials = Credentials(directory / "pki", server_addresses=(address,))
        etcd_port, etcd_peer_port, api_port = free_port(), free_port(), free_port()
        server_url = f"https://{address}:{api_port}"
        plane = cls(kubeconfig or directory / "kubeconfig", assets, server_url, credentials)
        write_kubeconfig(plane.kubeconfig, server_url, credentials)
        try:
            plane._spawn(
                "etcd",
                [
                    "--name=crawlfleet",
                    f"--data-dir={directory / 'etcd'}",
                    f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
                    f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
                    f"--listen-peer-urls=http://127.0.0.1:{etcd_peer_port}",
                    f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer_port}",
                    f"--initial-cluster=crawlfleet=http://127.0.0.1:{etcd_peer_port}",
                    # A test cluster is thrown away; fsync would only slow every write down.
                    "--unsafe-no-fsync",
                    "--log-level=warn",
                ],
                directory,
            )
            plane._spawn(
                "kube-apiserver",
                [
                    f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                    f"--bind-address={address}",
                    f"--advertise-address={address}",
                    f"--secure-port={api_port}",
                    f"--cert-dir={directory / 'apiserver-certs'}",
                    f"--tls-cert-file={credentials.path('apiserver.crt')}",
                    f"--tls-private-key-file={credentials.path('apiserver.key')}",
                    f"--client-ca-file={credentials.path('ca.crt')}",
                    "--service-account-issuer=https://kubernetes.default.svc",
                    f"--service-account-key-file={credentials.path('sa.pub')}",
                    f"--service-account-signing-key-file={credentials.path('sa.key')}",
                    f"--service-cluster-ip-range={SERVICE_CIDR}",
                    # RBAC as in a real cluster, so the chart's Roles are exercised, not waved through.
                    "--authorization-mode=Node,RBAC",
                    "--allow-privileged=true",
                    "--v=0",
                    *apiserver_args,
                ],
                directory,
            )
            plane.wait_ready(120)
            plane._spawn(
                "kube-controller-manager",
                [
                    f"--kubeconfig={plane.kubeconfig}",
                    "--leader-elect=false",
                    "--secure-port=0",
                    f"--service-account-private-key-file={credentials.path('sa.key')}",
                    f"--root-ca-file={credentials.path('ca.crt')}",
                    f"--service-cluster-ip-range={SERVICE_CIDR}",
                    "--use-service-account-credentials=false",
                    "--v=0",
                ],
                directory,
            )
        except BaseException:
            plane.stop()
            raise
        return plane

    @classmethod
    def existing(cls, kubeconfig: Path) -> ControlPlane:
        """A cluster someone else runs (`CRAWLFLEET_TEST_KUBECONFIG`); nothing is started or stopped."""
        config = yaml.safe_load(kubeconfig.read_text())
        current = next(c for c in config["contexts"] if c["name"] == config["current-context"])
        cluster = next(c for c in config["clusters"] if c["name"] == current["context"]["cluster"])
        if os.environ.get("KUBEBUILDER_ASSETS"):
            assets = Path(os.environ["KUBEBUILDER_ASSETS"])
        else:
            kubectl = shutil.which("kubectl")
            if kubectl is None:
                raise ControlPlaneUnavailableError(
                    "CRAWLFLEET_TEST_KUBECONFIG needs kubectl on PATH or KUBEBUILDER_ASSETS"
                )
            assets = Path(kubectl).resolve().parent
        return cls(kubeconfig, assets, cluster["cluster"]["server"])

    def _spawn(self, name: str, args: list[str], directory: Path) -> None:
        log_path = directory / f"{name}.log"
        log = log_path.open("ab")
        self.logs.append(log)
        process = subprocess.Popen(
            [str(self.assets_dir / name), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only calls prctl, safe between fork and exec
        )
        self.processes.append((name, process, log_path))

    def _check_alive(self) -> None:
        for name, process, log_path in self.processes:
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise ControlPlaneUnavailableError(f"{name} exited with {process.returncode}:\n{tail}")

    def ready(self) -> bool:
        self._check_alive()
        if self.credentials is None:
            raise ControlPlaneUnavailableError("readiness is only checked on a control plane this harness started")
        context = ssl.create_default_context(cafile=self.credentials.path("ca.crt"))
        context.load_cert_chain(self.credentials.path("admin.crt"), self.credentials.path("admin.key"))
        try:
            with urllib.request.urlopen(f"{self.server_url}/readyz", context=context, timeout=2) as response:  # noqa: S310
                return bool(response.status == 200)
        except urllib.error.HTTPError as error:
            error.close()  # a 500 while post-start hooks run; unclosed, its socket leaks a ResourceWarning
            return False

    def wait_ready(self, timeout: float) -> None:
        wait_until(self.ready, timeout, f"kube-apiserver at {self.server_url} to pass /readyz", interval=0.1)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster; on failure with check, the error names kubectl's stderr."""
        result = subprocess.run(
            [str(self.assets_dir / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    def environment(self) -> dict[str, str]:
        """What a subprocess (kopf, helm, kubectl) needs to reach this cluster."""
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{self.assets_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def stop(self) -> None:
        """Stop in reverse order of start, one at a time: the API server drains while etcd still answers."""
        for _, process, _ in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        self.processes.clear()
        for log in self.logs:
            log.close()
        self.logs.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a local Kubernetes control plane until interrupted.")
    parser.add_argument("--kubeconfig", type=Path, required=True, help="where to write the admin kubeconfig")
    parser.add_argument(
        "--data-dir", type=Path, help="etcd data, certificates and logs (default: a temporary directory)"
    )
    options = parser.parse_args()
    directory = options.data_dir or Path(tempfile.mkdtemp(prefix="crawlfleet-k8s-"))
    if directory.exists():
        shutil.rmtree(directory)
    started = time.monotonic()
    plane = ControlPlane.start(directory, kubeconfig=options.kubeconfig.resolve())
    print(
        f"control plane ready at {plane.server_url} in {time.monotonic() - started:.1f}s; "
        f"KUBECONFIG={plane.kubeconfig} (logs in {directory})",
        flush=True,
    )
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        while not stopping:
            plane._check_alive()
            time.sleep(0.5)
    finally:
        plane.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
