"""A one-node Kubernetes cluster on this machine, for the end-to-end tests and
`make dev-k8s`: the control plane of tests/harness/control_plane.py, plus
kube-scheduler, a kubelet, kube-proxy, containerd with runc, a bridge CNI, CoreDNS
and kube-router's NetworkPolicy controller.

Where each part comes from:
- kubelet, kube-scheduler, kube-proxy, crictl, CoreDNS, kube-router and pause are
  built from source by hack/build-node.sh (the same Kubernetes release as the
  control plane);
- containerd, runc, the CNI plugins, iptables and ipset are Debian's
  (hack/ensure-node-packages.sh);
- the images are built by hack/build-images.sh with buildah, from a debootstrap
  base and the project's own Dockerfile, and imported into containerd's `k8s.io`
  namespace: nothing is ever pulled.

The node lives in its own network namespace (tests/harness/netns.py); the API
server listens on the host's end of the veth that joins the two. The kubelet uses
the cgroupfs driver under its own cgroup root, and sets `failCgroupV1: false`
because this machine runs cgroup v1. A test website runs in the node's namespace,
where pods reach it as `http://site.crawlfleet.test:8080` (CoreDNS answers that
name and no name outside the cluster).

`python -m tests.harness.node --kubeconfig PATH [--install NAMESPACE]` runs one in
the foreground, with the chart installed for `make dev-k8s`."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from tests.harness.control_plane import REPO_ROOT, ControlPlane, _die_with_parent, write_kubeconfig
from tests.harness.netns import NodeNetwork
from tests.harness.ports import wait_until

NODE_NAME = "crawlfleet-node"
POD_CIDR = "10.244.0.0/24"
CLUSTER_DNS = "10.0.0.10"
SITE_NAME = "site.crawlfleet.test"
SITE_PORT = 8080
BUILD_NODE = REPO_ROOT / "hack" / "build-node.sh"
BUILD_IMAGES = REPO_ROOT / "hack" / "build-images.sh"
ENSURE_PACKAGES = REPO_ROOT / "hack" / "ensure-node-packages.sh"
ADDONS = REPO_ROOT / "hack" / "node" / "addons.yaml"
HOST_COMMANDS = (
    "containerd",
    "containerd-shim-runc-v2",
    "ctr",
    "runc",
    "iptables",
    "ipset",
    "conntrack",
    "nsenter",
    "ip",
    "buildah",
    "debootstrap",
)
CNI_PLUGINS = Path("/usr/lib/cni")
CGROUPS = Path("/sys/fs/cgroup")
# One file per running node, named after the process that started it, holding its directory.
RECORDS = Path("/run/crawlfleet/nodes")


class NodeUnavailableError(RuntimeError):
    """A part of the node could not be had or did not start; tests that need it fail."""


def _built(script: Path) -> list[str]:
    """Run a build script (it builds on first use, then answers from the cache) and return its stdout lines."""
    try:
        result = subprocess.run(
            ["bash", str(script)], check=True, stdout=subprocess.PIPE, text=True, timeout=3600, cwd=REPO_ROOT
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
        raise NodeUnavailableError(f"{script} failed: {error} (its output above says why)") from error
    return result.stdout.strip().splitlines()


def check_host() -> None:
    missing = [command for command in HOST_COMMANDS if shutil.which(command) is None]
    if not (CNI_PLUGINS / "bridge").exists():
        missing.append(f"{CNI_PLUGINS}/bridge")
    if missing:
        raise NodeUnavailableError(f"missing on this machine: {', '.join(missing)}; run {ENSURE_PACKAGES}")
    if os.geteuid() != 0:
        raise NodeUnavailableError("the test node needs root (network namespaces, cgroups, containers)")


@dataclass(frozen=True)
class Image:
    role: str
    reference: str
    archive: Path

    @property
    def repository(self) -> str:
        return self.reference.rsplit(":", 1)[0]

    @property
    def tag(self) -> str:
        return self.reference.rsplit(":", 1)[1]


def node_binaries() -> Path:
    return Path(_built(BUILD_NODE)[-1])


def node_images() -> dict[str, Image]:
    images = {}
    for line in _built(BUILD_IMAGES):
        role, reference, archive = line.split()
        images[role] = Image(role, reference, Path(archive))
    return images


@dataclass
class Daemons:
    """Long-running processes, each logging to a file, taken down with the harness."""

    directory: Path
    processes: list[tuple[str, subprocess.Popen[bytes], Path]] = field(default_factory=list)
    logs: list[IO[bytes]] = field(default_factory=list)

    def spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log_path = self.directory / f"{name}.log"
        log = log_path.open("ab")
        self.logs.append(log)
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only calls prctl, safe between fork and exec
            env=env,
            cwd=REPO_ROOT,
        )
        self.processes.append((name, process, log_path))
        return process

    def check_alive(self) -> None:
        for name, process, log_path in self.processes:
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise NodeUnavailableError(f"{name} exited with {process.returncode}:\n{tail}")

    def stop(self, name: str) -> None:
        for entry in [entry for entry in self.processes if entry[0] == name]:
            _, process, _ = entry
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
            self.processes.remove(entry)

    def stop_all(self) -> None:
        for name, _, _ in reversed(list(self.processes)):
            self.stop(name)
        for log in self.logs:
            log.close()
        self.logs.clear()


@dataclass
class CgroupRoot:
    """The kubelet's `cgroupRoot`, in every cgroup v1 hierarchy: the pods of this
    node and nothing else live below it, so stopping the node can find them all."""

    name: str

    def paths(self) -> list[Path]:
        return [hierarchy / self.name for hierarchy in sorted(CGROUPS.iterdir()) if hierarchy.is_dir()]

    def create(self) -> None:
        for path in self.paths():
            path.mkdir(exist_ok=True)
            if path.parent.name == "cpuset":
                # A new cpuset has no CPUs or memory nodes until given its parent's.
                for setting in ("cpuset.cpus", "cpuset.mems"):
                    (path / setting).write_text((path.parent / setting).read_text())

    def kill_all(self) -> None:
        for path in self.paths():
            for procs in path.rglob("cgroup.procs"):
                for pid in procs.read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)

    def remove(self) -> None:
        for path in self.paths():
            if not path.exists():
                continue
            for directory in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                with contextlib.suppress(OSError):
                    directory.rmdir()
            with contextlib.suppress(OSError):
                path.rmdir()


def _unmount_below(directory: Path) -> None:
    """Lazily unmount whatever the kubelet and containerd left mounted below `directory`."""
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    prefix = str(directory.resolve()) + "/"
    for mount_point in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount_point], capture_output=True, check=False)


def _pod_network_namespaces(directory: Path) -> set[Path]:
    """The pods' network namespaces, as containerd's sandboxes name them; they are
    mounted outside `directory` (/var/run/netns), so they are removed one by one."""
    paths = set()
    for config in (directory / "containerd" / "state").glob("io.containerd.runtime.v2.task/*/*/config.json"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            for namespace in json.loads(config.read_text())["linux"]["namespaces"]:
                if namespace["type"] == "network" and namespace.get("path"):
                    paths.add(Path(namespace["path"]))
    return paths


def remove_node_leftovers(directory: Path, network: NodeNetwork, cgroup_root: CgroupRoot) -> None:
    """Kill the node's pods and daemons and remove the namespaces, mounts and cgroups they leave."""
    cgroup_root.kill_all()
    pod_networks = _pod_network_namespaces(directory)
    network.delete()
    _unmount_below(directory)
    for path in pod_networks:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)
        path.unlink(missing_ok=True)
    cgroup_root.remove()


def remove_stale_nodes() -> None:
    """Remove what the nodes of test runs that were killed outright left behind."""
    for record in RECORDS.glob("*"):
        pid = int(record.name)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 0)
            continue
        directory = Path(record.read_text())
        network = NodeNetwork.named(f"crawlfleet-{pid}")
        remove_node_leftovers(directory, network, CgroupRoot(network.name))
        record.unlink()


@dataclass
class NodeCluster:
    """The control plane and the node, started here and stopped by stop()."""

    directory: Path
    network: NodeNetwork
    plane: ControlPlane
    images: dict[str, Image]
    binaries: Path
    daemons: Daemons
    cgroup_root: CgroupRoot

    @property
    def kubeconfig(self) -> Path:
        return self.plane.kubeconfig

    @property
    def site_url(self) -> str:
        """The test website as pods reach it."""
        return f"http://{SITE_NAME}:{SITE_PORT}"

    @property
    def site_url_from_host(self) -> str:
        return f"http://{self.network.node_address}:{SITE_PORT}"

    @property
    def containerd_socket(self) -> Path:
        return self.directory / "containerd" / "containerd.sock"

    @classmethod
    def start(cls, directory: Path, kubeconfig: Path | None = None) -> NodeCluster:
        check_host()
        binaries = node_binaries()
        images = node_images()
        remove_stale_nodes()
        directory.mkdir(parents=True, exist_ok=True)
        RECORDS.mkdir(parents=True, exist_ok=True)
        (RECORDS / str(os.getpid())).write_text(str(directory.resolve()))
        network = NodeNetwork.create(POD_CIDR)
        cgroup_root = CgroupRoot(network.name)
        daemons = Daemons(directory)
        pki = directory / "control-plane" / "pki"
        try:
            plane = ControlPlane.start(
                directory / "control-plane",
                kubeconfig=kubeconfig,
                address=network.host_address,
                apiserver_args=[
                    # The API server authenticates to the kubelet (logs, exec, port-forward) as the admin.
                    f"--kubelet-client-certificate={pki / 'admin.crt'}",
                    f"--kubelet-client-key={pki / 'admin.key'}",
                    "--kubelet-preferred-address-types=InternalIP",
                ],
            )
        except BaseException:
            network.delete()
            (RECORDS / str(os.getpid())).unlink(missing_ok=True)
            raise
        cluster = cls(directory, network, plane, images, binaries, daemons, cgroup_root)
        try:
            cluster._start_node()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _identity(self, name: str, common_name: str, groups: list[str]) -> Path:
        """A kubeconfig for one component, with its own client certificate."""
        credentials = self.plane.credentials
        assert credentials is not None
        credentials.issue_client(name, common_name, groups)
        path = self.directory / f"{name}.kubeconfig"
        write_kubeconfig(path, self.plane.server_url, credentials, user=name)
        return path

    def _start_node(self) -> None:
        self.daemons.spawn(
            "kube-scheduler",
            [
                str(self.binaries / "kube-scheduler"),
                f"--kubeconfig={self._identity('scheduler', 'system:kube-scheduler', [])}",
                "--leader-elect=false",
                "--secure-port=0",
                "--v=0",
            ],
        )
        self._start_containerd()
        self._start_kubelet()
        self.daemons.spawn(
            "kube-proxy",
            self.network.command(str(self.binaries / "kube-proxy"), f"--config={self._kube_proxy_config()}"),
        )
        # kube-router's NetworkPolicy controller, with the admin's kubeconfig: it reads
        # pods, namespaces and policies cluster-wide and programs iptables and ipsets.
        self.daemons.spawn(
            "kube-router",
            self.network.command(
                str(self.binaries / "kube-router"),
                f"--kubeconfig={self.kubeconfig}",
                f"--hostname-override={NODE_NAME}",
                "--run-firewall=true",
                "--run-router=false",
                "--run-service-proxy=false",
                "--run-loadbalancer=false",
                "--enable-cni=false",
                "--metrics-port=0",
                "--v=1",
            ),
        )
        self._start_site()
        self._install_addons()

    def _start_containerd(self) -> None:
        root = self.directory / "containerd"
        cni = self.directory / "cni"
        (cni / "net.d").mkdir(parents=True, exist_ok=True)
        (cni / "net.d" / "10-crawlfleet.conflist").write_text(
            json.dumps(
                {
                    "cniVersion": "1.0.0",
                    "name": "crawlfleet",
                    "plugins": [
                        {
                            "type": "bridge",
                            "bridge": "cf0",
                            "isGateway": True,
                            "ipMasq": False,
                            "hairpinMode": True,
                            "ipam": {
                                "type": "host-local",
                                "ranges": [[{"subnet": POD_CIDR}]],
                                "routes": [{"dst": "0.0.0.0/0"}],
                                "dataDir": str(cni / "ipam"),
                            },
                        },
                        {"type": "portmap", "capabilities": {"portMappings": True}},
                    ],
                },
                indent=2,
            )
        )
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        config = root / "config.toml"
        root.mkdir(parents=True, exist_ok=True)
        config.write_text(
            f"""version = 2
root = "{root / "root"}"
state = "{root / "state"}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "{self.containerd_socket}"
[ttrpc]
  address = "{self.containerd_socket}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{root / "opt"}"
[{cri}]
  sandbox_image = "{self.images["pause"].reference}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  enable_selinux = false
  # This machine withholds CAP_SYS_RESOURCE, so no process may lower its OOM score:
  # pods get containerd's own instead of the kubelet's negative ones.
  restrict_oom_score_adj = true
[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
[{cri}.cni]
  bin_dir = "{CNI_PLUGINS}"
  conf_dir = "{cni / "net.d"}"
"""
        )
        self.daemons.spawn("containerd", self.network.command("containerd", f"--config={config}"))

        def answers() -> bool:
            self.daemons.check_alive()
            return self.ctr("version", check=False).returncode == 0

        wait_until(answers, 60, "containerd to answer", interval=0.2)
        for image in self.images.values():
            self.ctr("images", "import", str(image.archive), timeout=600)

    def ctr(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["ctr", f"--address={self.containerd_socket}", "--namespace=k8s.io", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise NodeUnavailableError(f"ctr {' '.join(args)} failed: {result.stderr}")
        return result

    def crictl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [
                str(self.binaries / "crictl"),
                f"--runtime-endpoint=unix://{self.containerd_socket}",
                f"--image-endpoint=unix://{self.containerd_socket}",
                "--timeout=60s",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise NodeUnavailableError(f"crictl {' '.join(args)} failed: {result.stderr}")
        return result

    def _start_kubelet(self) -> None:
        credentials = self.plane.credentials
        assert credentials is not None
        self.cgroup_root.create()
        kubelet_dir = self.directory / "kubelet"
        kubelet_dir.mkdir(exist_ok=True)
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            # This machine runs cgroup v1 (hybrid); kubelet 1.35 refuses it without this.
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": f"/{self.cgroup_root.name}",
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            "address": self.network.node_address,
            "port": 10250,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": 10248,
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(credentials.path("ca.crt"))},
            },
            "authorization": {"mode": "Webhook"},
            "clusterDNS": [CLUSTER_DNS],
            "clusterDomain": "cluster.local",
            # Pods with dnsPolicy Default get no resolver of this machine's.
            "resolvConf": "",
            "podLogsDir": str(self.directory / "pod-logs"),
            # The images cannot be pulled again: never collect them.
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "failSwapOn": False,
            "serializeImagePulls": False,
            "rotateCertificates": False,
            "registerNode": True,
        }
        config_path = kubelet_dir / "config.yaml"
        config_path.write_text(yaml.safe_dump(config))
        kubeconfig = self._identity("kubelet", f"system:node:{NODE_NAME}", ["system:nodes"])
        self.daemons.spawn(
            "kubelet",
            self.network.command(
                str(self.binaries / "kubelet"),
                f"--config={config_path}",
                f"--kubeconfig={kubeconfig}",
                f"--root-dir={kubelet_dir}",
                f"--cert-dir={kubelet_dir / 'pki'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={self.network.node_address}",
                "--v=1",
            ),
        )

        def node_ready() -> bool:
            self.daemons.check_alive()
            result = self.kubectl("get", "node", NODE_NAME, "-o", "json", check=False)
            if result.returncode != 0:
                return False
            conditions = json.loads(result.stdout)["status"].get("conditions", [])
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

        wait_until(node_ready, 180, f"node {NODE_NAME} to be Ready (logs in {self.directory})", interval=0.5)

    def _kube_proxy_config(self) -> Path:
        path = self.directory / "kube-proxy.yaml"
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(self._identity("kube-proxy", "system:kube-proxy", []))},
            "hostnameOverride": NODE_NAME,
            "mode": "iptables",
            "clusterCIDR": POD_CIDR,
            "metricsBindAddress": "127.0.0.1:10249",
            "healthzBindAddress": "127.0.0.1:10256",
            # The connection-tracking table is this machine's, not the node's: leave its size and timeouts.
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        }
        path.write_text(yaml.safe_dump(config))
        return path

    def _start_site(self) -> None:
        self.daemons.spawn(
            "website",
            self.network.command(
                sys.executable, "-m", "tests.harness.website", "--host=0.0.0.0", f"--port={SITE_PORT}"
            ),
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )

        def serving() -> bool:
            self.daemons.check_alive()
            with urllib.request.urlopen(f"{self.site_url_from_host}/robots.txt", timeout=2) as response:  # noqa: S310
                return bool(response.status == 200)

        wait_until(serving, 30, "the test website in the node's network")

    def _install_addons(self) -> None:
        storage = self.directory / "disk"
        storage.mkdir(exist_ok=True)
        storage.chmod(0o777)
        manifest = string.Template(ADDONS.read_text()).substitute(
            site_address=self.network.node_address,
            site_name=SITE_NAME,
            coredns_image=self.images["coredns"].reference,
            cluster_dns=CLUSTER_DNS,
            storage_path=storage,
        )
        self.kubectl("apply", "-f", "-", input=manifest)
        self.kubectl("-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=180s")

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.plane.kubectl(*args, input=input, check=check)

    def chart_values(self) -> dict[str, Any]:
        """What a platform team sets on this cluster: the images it built (nothing can
        be pulled here) and the intranet site its crawls may reach, in both the
        application's address guard and the workers' egress policy."""
        site = f"{self.network.node_address}/32"
        app, redis = self.images["app"], self.images["redis"]
        return {
            "image": {"repository": app.repository, "tag": app.tag, "pullPolicy": "Never"},
            "redis": {"image": {"repository": redis.repository, "tag": redis.tag, "pullPolicy": "Never"}},
            "config": {"allowedNetworks": [site]},
            "networkPolicy": {
                "extraWorkerEgress": [
                    {"to": [{"ipBlock": {"cidr": site}}], "ports": [{"port": SITE_PORT, "protocol": "TCP"}]}
                ]
            },
            "tests": {"crawlUrl": f"{self.site_url}/page/0"},
        }

    def stop(self) -> None:
        """Stop the node's pods at once (no grace: the whole cluster goes), then the
        node and the control plane, and remove what they left on this machine."""
        for name in ("website", "kube-router", "kube-proxy", "kubelet", "kube-scheduler"):
            self.daemons.stop(name)
        if any(name == "containerd" for name, _, _ in self.daemons.processes):
            with contextlib.suppress(NodeUnavailableError, subprocess.TimeoutExpired):
                self.crictl("stopp", *self.crictl("pods", "-q", check=False).stdout.split(), check=False)
                self.crictl("rmp", "--all", "--force", check=False)
        self.daemons.stop_all()
        self.plane.stop()
        remove_node_leftovers(self.directory, self.network, self.cgroup_root)
        (RECORDS / str(os.getpid())).unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a one-node Kubernetes cluster until interrupted.")
    parser.add_argument("--kubeconfig", type=Path, required=True, help="where to write the admin kubeconfig")
    parser.add_argument("--data-dir", type=Path, help="state, certificates and logs (default: a temporary directory)")
    parser.add_argument("--install", metavar="NAMESPACE", help="helm install the chart into this namespace")
    options = parser.parse_args()
    from tests.harness.helm import Helm
    from tests.harness.release import DEFAULT_PODS, Release

    remove_stale_nodes()
    directory = (options.data_dir or Path(tempfile.mkdtemp(prefix="crawlfleet-node-"))).resolve()
    if directory.exists():
        shutil.rmtree(directory)
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    started = time.monotonic()
    cluster = NodeCluster.start(directory, kubeconfig=options.kubeconfig.resolve())
    try:
        print(
            f"cluster ready in {time.monotonic() - started:.1f}s: API server {cluster.plane.server_url}, "
            f"node {NODE_NAME}, test site {cluster.site_url} (logs in {directory})",
            flush=True,
        )
        if options.install:
            release = Release.install(cluster, Helm.find(), options.install, directory / "values")
            print(f"helm install done (values: {directory / 'values'}); waiting for every pod to be Ready", flush=True)
            release.wait_ready(DEFAULT_PODS, timeout=900)
            print(f"crawlfleet is Ready in namespace {options.install}, {time.monotonic() - started:.0f}s after start")
        print("Ctrl-C stops the cluster and removes it.", flush=True)
        while not stopping:
            cluster.daemons.check_alive()
            time.sleep(0.5)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
