"""`helm template` with the defaults and each major option, asserted on the parsed
objects: what a platform team reviewing the chart would check."""

from __future__ import annotations

import base64
import ipaddress
from typing import Any

import pytest

from crawlfleet_core.settings import Settings
from crawlfleet_core.store.connections import SentinelAddress
from tests.harness.helm import CHART, Helm, Manifest, by_kind, pod_specs

RELEASE = "crawlfleet"
URL_VARIABLES = ("CRAWLFLEET_BROKER_URL", "CRAWLFLEET_RESULT_BACKEND", "CRAWLFLEET_JOB_STORE_URL")
STANDARD_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/part-of",
    "helm.sh/chart",
)


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container.get("env", [])}


def containers(manifests: list[Manifest]) -> dict[str, dict[str, Any]]:
    return {
        f"{key}/{container['name']}": container
        for key, spec in pod_specs(manifests).items()
        for container in spec["containers"]
    }


def egress_allows(policy: Manifest, address: str, port: int, protocol: str = "TCP") -> bool:
    """Whether a NetworkPolicy lets its pods connect to `address:port`, read as
    Kubernetes reads it: a policy without Egress in policyTypes restricts nothing; a
    rule without `ports` allows every port and one without `to` every destination;
    an ipBlock allows its CIDR less its exceptions; pod and namespace selectors select
    pods, never an address outside the cluster."""
    spec = policy["spec"]
    if "Egress" not in spec.get("policyTypes", ["Ingress", "Egress"] if "egress" in spec else ["Ingress"]):
        return True
    ip = ipaddress.ip_address(address)

    def port_matches(entry: dict[str, Any]) -> bool:
        if entry.get("protocol", "TCP") != protocol:
            return False
        if "port" not in entry:
            return True
        return bool(entry["port"] <= port <= entry.get("endPort", entry["port"]))

    def peer_matches(peer: dict[str, Any]) -> bool:
        block = peer.get("ipBlock")
        if block is None:
            return False
        return ip in ipaddress.ip_network(block["cidr"]) and not any(
            ip in ipaddress.ip_network(excluded) for excluded in block.get("except", [])
        )

    for rule in spec.get("egress") or []:
        if rule.get("ports") and not any(port_matches(entry) for entry in rule["ports"]):
            continue
        if not rule.get("to") or any(peer_matches(peer) for peer in rule["to"]):
            return True
    return False


def test_egress_allows_reads_policies_as_kubernetes_does() -> None:
    """The helper is what the policy tests stand on, so it is checked against the
    NetworkPolicy semantics on hand-written policies first."""

    def policy(*rules: dict[str, Any], types: tuple[str, ...] = ("Egress",)) -> Manifest:
        return {"spec": {"policyTypes": list(types), "egress": list(rules)}}

    assert not egress_allows(policy(), "93.184.215.14", 443), "no rule allows nothing"
    assert egress_allows(policy({}), "10.0.0.1", 5432), "a rule without to or ports allows everything"
    assert egress_allows(policy({"ports": [{"port": 443}]}), "10.0.0.1", 443), "no `to`: every destination"
    assert not egress_allows(policy({"ports": [{"port": 443}]}), "10.0.0.1", 80)
    assert not egress_allows(policy({"ports": [{"port": 443, "protocol": "UDP"}]}), "10.0.0.1", 443)
    assert egress_allows(policy({"ports": [{"port": 8000, "endPort": 9000}]}), "10.0.0.1", 8080)
    assert egress_allows(policy({"ports": [{"protocol": "TCP"}]}), "10.0.0.1", 1234), "no port: every port"
    block = {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]}
    assert egress_allows(policy(block), "93.184.215.14", 80)
    assert not egress_allows(policy(block), "10.1.2.3", 80)
    assert not egress_allows(policy({"to": [{"podSelector": {}}]}), "93.184.215.14", 80), "selectors select pods"
    assert egress_allows(policy(types=("Ingress",)), "10.0.0.1", 80), "egress not restricted at all"


class TestDefaults:
    def test_renders_every_component(self, default_manifests: list[Manifest]) -> None:
        assert set(by_kind(default_manifests, "Deployment")) == {
            f"{RELEASE}-api",
            f"{RELEASE}-flower",
            f"{RELEASE}-operator",
            f"{RELEASE}-worker-default",
        }
        assert set(by_kind(default_manifests, "StatefulSet")) == {f"{RELEASE}-redis"}
        assert set(by_kind(default_manifests, "WorkerPool")) == {f"{RELEASE}-worker-default"}
        assert not by_kind(default_manifests, "Ingress")
        assert not by_kind(default_manifests, "ServiceMonitor")
        assert not by_kind(default_manifests, "CustomResourceDefinition"), "CRDs belong in crds/, not templates/"

    def test_every_object_has_the_standard_labels(self, default_manifests: list[Manifest]) -> None:
        for manifest in default_manifests:
            labels = manifest["metadata"].get("labels", {})
            missing = [label for label in STANDARD_LABELS if label not in labels]
            assert not missing, f"{manifest['kind']}/{manifest['metadata']['name']} lacks {missing}"
            assert labels["app.kubernetes.io/instance"] == RELEASE
            assert labels["app.kubernetes.io/managed-by"] == "Helm"

    def test_every_pod_runs_locked_down(self, default_manifests: list[Manifest]) -> None:
        specs = pod_specs(default_manifests)
        # api, flower, operator, one pool, redis, the test hook, the uninstall hook
        assert len(specs) == 7, sorted(specs)
        for key, spec in specs.items():
            pod_context = spec["securityContext"]
            assert pod_context["runAsNonRoot"] is True, key
            assert pod_context["runAsUser"] != 0, key
            assert pod_context["seccompProfile"] == {"type": "RuntimeDefault"}, key
            volumes = {volume["name"]: volume for volume in spec["volumes"]}
            assert "emptyDir" in volumes["tmp"], f"{key}: the writable /tmp is not an emptyDir"
            for container in spec["containers"]:
                where = f"{key}/{container['name']}"
                context = container["securityContext"]
                assert context["allowPrivilegeEscalation"] is False, where
                assert context["readOnlyRootFilesystem"] is True, where
                assert context["capabilities"]["drop"] == ["ALL"], where
                assert "add" not in context["capabilities"], where
                assert context.get("privileged", False) is False, where
                mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
                assert mounts["tmp"] == "/tmp", where
                requests = container["resources"]["requests"]
                assert {"cpu", "memory"} <= set(requests), f"{where}: no resource requests"

    def test_only_the_operator_mounts_a_service_account_token(self, default_manifests: list[Manifest]) -> None:
        specs = pod_specs(default_manifests)
        mounts = {key: spec["automountServiceAccountToken"] for key, spec in specs.items()}
        assert mounts.pop(f"Deployment/{RELEASE}-operator") is True
        # The uninstall hook is the operator's own cleanup, under its account.
        assert mounts.pop(f"Job/{RELEASE}-uninstall") is True
        assert specs[f"Job/{RELEASE}-uninstall"]["serviceAccountName"] == f"{RELEASE}-operator"
        assert not any(mounts.values()), mounts
        for account in by_kind(default_manifests, "ServiceAccount").values():
            assert account["automountServiceAccountToken"] is False

    def test_probes(self, default_manifests: list[Manifest]) -> None:
        every = containers(default_manifests)
        api = every[f"Deployment/{RELEASE}-api/api"]
        assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        flower = every[f"Deployment/{RELEASE}-flower/flower"]
        assert flower["livenessProbe"]["httpGet"] == {"path": "/healthcheck", "port": "http"}
        operator = every[f"Deployment/{RELEASE}-operator/operator"]
        assert operator["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
        assert operator["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
        assert env_of(operator)["CRAWLFLEET_OPERATOR_HEALTH_PORT"]["value"] == "8080"
        redis = every[f"StatefulSet/{RELEASE}-redis/redis"]
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert "redis-cli -h 127.0.0.1 ping" in " ".join(redis[probe]["exec"]["command"]), probe
        worker = every[f"Deployment/{RELEASE}-worker-default/worker"]
        probe = worker["livenessProbe"]
        assert probe["exec"]["command"][:2] == ["python", "-c"]
        assert "import crawlfleet_workers" not in probe["exec"]["command"][2], "the probe must not load the Celery app"
        # A restart for liveness kills the hung worker at once, not after the warm-shutdown grace.
        assert probe["terminationGracePeriodSeconds"] == 30

    def test_workers_shut_down_warm(self, default_manifests: list[Manifest]) -> None:
        config = by_kind(default_manifests, "ConfigMap")[RELEASE]["data"]
        deployment = by_kind(default_manifests, "Deployment")[f"{RELEASE}-worker-default"]
        spec = deployment["spec"]["template"]["spec"]
        # The grace covers a crawl that has just started: it can finish before the kill.
        assert spec["terminationGracePeriodSeconds"] >= int(config["CRAWLFLEET_HARD_TIME_LIMIT_SECONDS"])
        worker = spec["containers"][0]
        assert "command" not in worker, "the image's tini must stay PID 1 and hand SIGTERM to celery"
        assert worker["args"][:3] == ["celery", "--app=crawlfleet_workers.app", "worker"]
        assert "--queues=default" in worker["args"]
        assert "--concurrency=4" in worker["args"]
        assert env_of(worker)["CRAWLFLEET_POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0

    def test_worker_pool_matches_its_deployment(self, default_manifests: list[Manifest]) -> None:
        pool = by_kind(default_manifests, "WorkerPool")[f"{RELEASE}-worker-default"]
        assert pool["apiVersion"] == "crawlfleet.io/v1alpha1"
        assert pool["spec"]["deployment"] in by_kind(default_manifests, "Deployment")
        assert pool["spec"] | {"scaleUp": None, "scaleDown": None} == {
            "queue": "default",
            "deployment": f"{RELEASE}-worker-default",
            "minReplicas": 1,
            "maxReplicas": 10,
            "tasksPerReplica": 4,
            "activationQueueLength": 0,
            "pollIntervalSeconds": 1,
            "scaleUp": None,
            "scaleDown": None,
            "paused": False,
        }
        deployment = by_kind(default_manifests, "Deployment")[f"{RELEASE}-worker-default"]
        assert "replicas" not in deployment["spec"], "the operator owns the count; a rendered one would fight it"

    def test_bundled_redis_is_the_official_image_with_aof_on_a_volume(self, default_manifests: list[Manifest]) -> None:
        statefulset = by_kind(default_manifests, "StatefulSet")[f"{RELEASE}-redis"]
        spec = statefulset["spec"]["template"]["spec"]
        redis = spec["containers"][0]
        assert redis["image"].startswith("redis:"), "the official image, not a vendor's rebuild"
        config = by_kind(default_manifests, "ConfigMap")[f"{RELEASE}-redis"]["data"]["redis.conf"]
        assert "appendonly yes" in config
        assert "maxmemory-policy noeviction" in config
        [claim] = statefulset["spec"]["volumeClaimTemplates"]
        assert claim["metadata"]["name"] == "data"
        assert claim["spec"]["resources"]["requests"]["storage"] == "8Gi"
        assert {"name": "data", "mountPath": "/data"} in redis["volumeMounts"]
        assert env_of(redis)["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": f"{RELEASE}-redis",
            "key": "redis-password",
        }
        exec_line = next(line for line in redis["command"][-1].splitlines() if line.startswith("exec "))
        assert "REDIS_PASSWORD" not in exec_line, "the password would show in the process list"

    def test_secrets_are_generated_and_never_inlined(self, default_manifests: list[Manifest]) -> None:
        secrets = by_kind(default_manifests, "Secret")
        password = base64.b64decode(secrets[f"{RELEASE}-redis"]["data"]["redis-password"]).decode()
        token = base64.b64decode(secrets[f"{RELEASE}-api-tokens"]["data"]["tokens"]).decode()
        flower = base64.b64decode(secrets[f"{RELEASE}-flower"]["data"]["password"]).decode()
        assert len(password) == len(token) == len(flower) == 32
        for manifest in default_manifests:
            if manifest["kind"] != "Secret":
                text = str(manifest)
                for secret in (password, token, flower):
                    assert secret not in text, (
                        f"a secret is inlined in {manifest['kind']}/{manifest['metadata']['name']}"
                    )
        for key, container in containers(default_manifests).items():
            env = env_of(container)
            if "CRAWLFLEET_BROKER_URL" in env:
                assert env["CRAWLFLEET_BROKER_URL"]["value"] == (
                    f"redis://:$(REDIS_PASSWORD)@{RELEASE}-redis:6379/0"
                ), key
                assert env["CRAWLFLEET_RESULT_BACKEND"]["value"].endswith("/1"), key
                assert env["CRAWLFLEET_JOB_STORE_URL"]["value"].endswith("/2"), key
        api = containers(default_manifests)[f"Deployment/{RELEASE}-api/api"]
        assert env_of(api)["CRAWLFLEET_API_TOKENS"]["valueFrom"]["secretKeyRef"]["name"] == f"{RELEASE}-api-tokens"
        flower_env = env_of(containers(default_manifests)[f"Deployment/{RELEASE}-flower/flower"])
        assert flower_env["FLOWER_BASIC_AUTH"]["value"] == "$(FLOWER_USERNAME):$(FLOWER_PASSWORD)"

    def test_operator_has_least_privilege(self, default_manifests: list[Manifest]) -> None:
        operator = by_kind(default_manifests, "Deployment")[f"{RELEASE}-operator"]
        assert operator["spec"]["replicas"] == 1
        # A rollout starts the new replica first; peering keeps it standing by until the old one leaves.
        assert operator["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
        env = env_of(operator["spec"]["template"]["spec"]["containers"][0])
        assert env["CRAWLFLEET_OPERATOR_PEERING"]["value"] == f"{RELEASE}-operator"
        assert env["POD_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
        peerings = [m["metadata"]["name"] for m in default_manifests if m["kind"] == "KopfPeering"]
        assert peerings == [f"{RELEASE}-operator"]
        container = operator["spec"]["template"]["spec"]["containers"][0]
        assert env_of(container)["CRAWLFLEET_OPERATOR_NAMESPACES"]["value"] == RELEASE
        role = by_kind(default_manifests, "Role")[f"{RELEASE}-operator"]
        granted = {
            (group, resource): sorted(rule["verbs"])
            for rule in role["rules"]
            for group in rule["apiGroups"]
            for resource in rule["resources"]
        }
        assert granted == {
            ("crawlfleet.io", "scrapejobs"): sorted(["get", "list", "watch", "create", "patch", "update", "delete"]),
            ("crawlfleet.io", "scrapejobs/status"): ["get", "patch", "update"],
            ("crawlfleet.io", "scrapejobs/finalizers"): ["update"],
            ("crawlfleet.io", "workerpools"): ["delete", "get", "list", "patch", "watch"],
            ("crawlfleet.io", "workerpools/status"): ["get", "patch", "update"],
            ("apps", "deployments/scale"): ["get", "patch"],
            ("", "pods"): ["list", "patch"],
            ("", "events"): ["create", "patch"],
            ("kopf.dev", "kopfpeerings"): ["get", "list", "patch", "watch"],
        }
        # Told its namespace, kopf lists no namespaces and watches no CRDs: nothing cluster-wide.
        assert not by_kind(default_manifests, "ClusterRoleBinding")
        assert {name.rsplit("-", 1)[-1] for name in by_kind(default_manifests, "ClusterRole")} == {"view", "edit"}
        [binding] = by_kind(default_manifests, "RoleBinding").values()
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": f"{RELEASE}-operator", "namespace": RELEASE}]
        assert operator["spec"]["template"]["spec"]["serviceAccountName"] == f"{RELEASE}-operator"

    def test_redis_admits_only_platform_pods(self, default_manifests: list[Manifest]) -> None:
        policy = by_kind(default_manifests, "NetworkPolicy")[f"{RELEASE}-redis"]
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        [rule] = policy["spec"]["ingress"]
        assert rule["ports"] == [{"port": "redis", "protocol": "TCP"}]
        [peer] = rule["from"]
        assert set(peer) == {"podSelector"}, "no namespaceSelector: pods of other namespaces stay out"
        selector = peer["podSelector"]["matchLabels"]
        assert selector["app.kubernetes.io/instance"] == RELEASE
        # Exactly the pods that carry Redis credentials match the selector.
        for manifest in default_manifests:
            if manifest["kind"] not in ("Deployment", "Pod"):
                continue
            template = manifest["spec"]["template"] if manifest["kind"] == "Deployment" else manifest
            labels = template["metadata"]["labels"]
            uses_redis = any("CRAWLFLEET_BROKER_URL" in env_of(c) for c in template["spec"]["containers"])
            admitted = all(labels.get(key) == value for key, value in selector.items())
            assert admitted == uses_redis, manifest["metadata"]["name"]

    def test_workers_cannot_reach_metadata_or_private_ranges(self, default_manifests: list[Manifest]) -> None:
        policy = by_kind(default_manifests, "NetworkPolicy")[f"{RELEASE}-worker"]
        assert sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"]
        assert policy["spec"]["ingress"] == []
        for address in ("169.254.169.254", "10.0.0.1", "172.16.5.4", "192.168.1.1", "127.0.0.1", "100.64.0.1"):
            assert not egress_allows(policy, address, 80), address
        for address in ("fd00:ec2::254", "fe80::1", "::1"):
            assert not egress_allows(policy, address, 443), address
        assert egress_allows(policy, "93.184.215.14", 443)
        assert egress_allows(policy, "2606:2800:21f:cb07:6820:80da:af6b:8b2c", 80)
        dns, redis = policy["spec"]["egress"][:2]
        assert {"port": 53, "protocol": "UDP"} in dns["ports"]
        assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
        assert redis["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "redis"
        assert redis["ports"] == [{"port": 6379, "protocol": "TCP"}]

    def test_the_api_and_the_eggs_it_inspects_reach_only_dns_and_redis(self, default_manifests: list[Manifest]) -> None:
        policy = by_kind(default_manifests, "NetworkPolicy")[f"{RELEASE}-api"]
        assert sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"]
        for address in ("169.254.169.254", "10.0.0.1", "93.184.215.14", "fd00:ec2::254"):
            assert not egress_allows(policy, address, 443), address
        dns, redis = policy["spec"]["egress"]
        assert {"port": 53, "protocol": "UDP"} in dns["ports"]
        assert redis["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "redis"

    def test_disruption_budgets(self, default_manifests: list[Manifest]) -> None:
        budgets = by_kind(default_manifests, "PodDisruptionBudget")
        assert set(budgets) == {f"{RELEASE}-api", f"{RELEASE}-worker-default", f"{RELEASE}-redis"}
        assert budgets[f"{RELEASE}-redis"]["spec"]["maxUnavailable"] == 0, "a drain waits for Redis to be moved"
        worker = budgets[f"{RELEASE}-worker-default"]["spec"]
        assert worker["selector"]["matchLabels"]["crawlfleet.io/pool"] == "default"

    def test_helm_test_submits_a_job_through_the_api(self, default_manifests: list[Manifest]) -> None:
        [hook] = [m for m in default_manifests if m["kind"] == "Pod"]
        assert hook["metadata"]["annotations"]["helm.sh/hook"] == "test"
        container = hook["spec"]["containers"][0]
        assert container["args"][:2] == ["python", "-c"]
        assert 'client.post("/v1/jobs"' in container["args"][2]
        assert '"SUCCESS"' in container["args"][2]
        env = env_of(container)
        assert env["API_URL"]["value"] == f"http://{RELEASE}-api:80"
        assert env["QUEUE"]["value"] == "default"


def test_external_redis_renders_no_bundled_redis(helm: Helm) -> None:
    manifests = helm.template(
        {
            "redis": {
                "external": {
                    "url": "rediss://redis.example.com:6380?ssl_cert_reqs=required",
                    "existingSecret": "managed-redis",
                    "existingSecretPasswordKey": "password",
                }
            }
        }
    )
    redis_objects = [
        f"{m['kind']}/{m['metadata']['name']}"
        for m in manifests
        if m["metadata"]["labels"].get("app.kubernetes.io/component") == "redis"
    ]
    assert redis_objects == []
    assert f"{RELEASE}-redis" not in by_kind(manifests, "NetworkPolicy")
    for key, container in containers(manifests).items():
        env = env_of(container)
        if "CRAWLFLEET_BROKER_URL" in env:
            assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "managed-redis", "key": "password"}
            assert env["CRAWLFLEET_BROKER_URL"]["value"] == (
                "rediss://:$(REDIS_PASSWORD)@redis.example.com:6380/0?ssl_cert_reqs=required"
            ), key
            assert env["CRAWLFLEET_JOB_STORE_URL"]["value"].startswith("rediss://:$(REDIS_PASSWORD)@redis.example.com")
    worker_policy = by_kind(manifests, "NetworkPolicy")[f"{RELEASE}-worker"]
    assert all(
        "redis" not in str(peer.get("podSelector", {}))
        for rule in worker_policy["spec"]["egress"]
        for peer in rule["to"]
    )


def test_external_redis_without_a_password(helm: Helm) -> None:
    manifests = helm.template({"redis": {"external": {"url": "redis://10.1.2.3:6379"}}})
    api = containers(manifests)[f"Deployment/{RELEASE}-api/api"]
    assert "REDIS_PASSWORD" not in env_of(api)
    assert env_of(api)["CRAWLFLEET_BROKER_URL"]["value"] == "redis://10.1.2.3:6379/0"


SENTINELS = ["redis-node-0.redis-headless:26379", "redis-node-1.redis-headless:26379"]


def test_redis_sentinel_reaches_every_component_through_every_sentinel(helm: Helm) -> None:
    sentinel = {"hosts": SENTINELS, "masterName": "mymaster"}
    manifests = helm.template({"redis": {"external": {"sentinel": sentinel, "existingSecret": "managed-redis"}}})
    assert not [m for m in manifests if m["metadata"]["labels"].get("app.kubernetes.io/component") == "redis"]
    platform = [(key, env_of(c)) for key, c in containers(manifests).items() if "CRAWLFLEET_BROKER_URL" in env_of(c)]
    assert {key.split("/")[1] for key, _ in platform} >= {f"{RELEASE}-api", f"{RELEASE}-operator"}
    for key, env in platform:
        assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "managed-redis", "key": "redis-password"}
        assert env["CRAWLFLEET_REDIS_SENTINEL_MASTER"]["value"] == "mymaster", key
        # The kubelet expands $(REDIS_PASSWORD); the platform then reads what the pod gets.
        urls = {name: env[name]["value"].replace("$(REDIS_PASSWORD)", "pw") for name in URL_VARIABLES}
        settings = Settings(
            **{name.removeprefix("CRAWLFLEET_").lower(): url for name, url in urls.items()},
            redis_sentinel_master="mymaster",
        )
        for url, db in ((settings.broker_url, 0), (settings.result_backend, 1), (settings.job_store_url, 2)):
            address = SentinelAddress.parse(url)
            assert address.sentinels == [("redis-node-0.redis-headless", 26379), ("redis-node-1.redis-headless", 26379)]
            assert (address.db, address.password) == (db, "pw")


def test_redis_sentinel_needs_the_name_of_the_primary(helm: Helm) -> None:
    values = {"redis": {"external": {"sentinel": {"hosts": SENTINELS}}}}
    result = helm.run_with_values("template", RELEASE, str(CHART), values=values, check=False)
    assert result.returncode != 0
    assert "redis.external.sentinel.masterName: name the primary the sentinels watch" in result.stderr


def test_ingresses(helm: Helm) -> None:
    tls = [{"secretName": "crawlfleet-tls", "hosts": ["crawl.example.com"]}]
    manifests = helm.template(
        {
            "api": {
                "ingress": {
                    "enabled": True,
                    "className": "nginx",
                    "hosts": [{"host": "crawl.example.com", "paths": [{"path": "/v1", "pathType": "Prefix"}]}],
                    "tls": tls,
                }
            },
            "flower": {"ingress": {"enabled": True}},
        }
    )
    ingresses = by_kind(manifests, "Ingress")
    services = by_kind(manifests, "Service")
    assert set(ingresses) == {f"{RELEASE}-api", f"{RELEASE}-flower"}
    api = ingresses[f"{RELEASE}-api"]["spec"]
    assert api["ingressClassName"] == "nginx"
    assert api["tls"] == tls
    [rule] = api["rules"]
    assert rule["host"] == "crawl.example.com"
    for ingress in ingresses.values():
        for path in ingress["spec"]["rules"][0]["http"]["paths"]:
            backend = path["backend"]["service"]
            service = services[backend["name"]]
            assert backend["port"]["number"] in [port["port"] for port in service["spec"]["ports"]]


def test_several_pools(helm: Helm) -> None:
    pools = [
        {"name": "default", "queue": "default", "concurrency": 4, "minReplicas": 1, "maxReplicas": 10},
        {
            "name": "heavy",
            "queue": "heavy",
            "concurrency": 1,
            "minReplicas": 0,
            "maxReplicas": 3,
            "activationQueueLength": 2,
            "scaleDown": {"stabilizationWindowSeconds": 600, "maxStep": 1},
            "resources": {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "8Gi"}},
            "nodeSelector": {"pool": "big"},
        },
        {"name": "fast", "queue": "fast", "concurrency": 16, "minReplicas": 2, "maxReplicas": 50},
    ]
    manifests = helm.template({"workers": {"pools": pools}})
    deployments = by_kind(manifests, "Deployment")
    worker_pools = by_kind(manifests, "WorkerPool")
    budgets = by_kind(manifests, "PodDisruptionBudget")
    for pool in pools:
        name = f"{RELEASE}-worker-{pool['name']}"
        spec = deployments[name]["spec"]
        worker = spec["template"]["spec"]["containers"][0]
        assert f"--queues={pool['queue']}" in worker["args"]
        assert f"--concurrency={pool['concurrency']}" in worker["args"]
        assert "replicas" not in spec
        assert spec["selector"]["matchLabels"]["crawlfleet.io/pool"] == pool["name"]
        assert spec["template"]["metadata"]["labels"]["crawlfleet.io/pool"] == pool["name"]
        assert worker_pools[name]["spec"]["queue"] == pool["queue"]
        assert worker_pools[name]["spec"]["tasksPerReplica"] == pool["concurrency"]
        assert worker_pools[name]["spec"]["maxReplicas"] == pool["maxReplicas"]
        assert budgets[name]["spec"]["selector"]["matchLabels"]["crawlfleet.io/pool"] == pool["name"]
    heavy = deployments[f"{RELEASE}-worker-heavy"]["spec"]["template"]["spec"]
    assert heavy["containers"][0]["resources"]["requests"] == {"cpu": "2", "memory": "4Gi"}
    assert heavy["nodeSelector"] == {"pool": "big"}
    assert worker_pools[f"{RELEASE}-worker-heavy"]["spec"]["scaleDown"] == {
        "stabilizationWindowSeconds": 600,
        "maxStep": 1,
    }
    assert worker_pools[f"{RELEASE}-worker-heavy"]["spec"]["activationQueueLength"] == 2
    # The defaults apply where a pool sets nothing.
    fast = deployments[f"{RELEASE}-worker-fast"]["spec"]["template"]["spec"]
    assert fast["containers"][0]["resources"]["requests"] == {"cpu": "250m", "memory": "512Mi"}


def test_service_monitor_only_where_the_monitoring_api_is_served(helm: Helm) -> None:
    values = {"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}}}
    assert not by_kind(helm.template(values), "ServiceMonitor")
    manifests = helm.template(values, api_versions=["monitoring.coreos.com/v1"])
    [monitor] = by_kind(manifests, "ServiceMonitor").values()
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    ports = {endpoint["port"] for endpoint in monitor["spec"]["endpoints"]}
    selector = monitor["spec"]["selector"]
    components = selector["matchExpressions"][0]["values"]
    scraped = [
        service
        for service in by_kind(manifests, "Service").values()
        if service["metadata"]["labels"]["app.kubernetes.io/component"] in components
    ]
    assert {s["metadata"]["labels"]["app.kubernetes.io/component"] for s in scraped} == {"api", "operator", "flower"}
    for service in scraped:
        assert ports & {port["name"] for port in service["spec"]["ports"]}, service["metadata"]["name"]


def test_cluster_wide_operator(helm: Helm) -> None:
    manifests = helm.template({"operator": {"clusterWide": True}})
    assert not by_kind(manifests, "Role")
    roles = by_kind(manifests, "ClusterRole")
    operator_role = roles[f"{RELEASE}-{RELEASE}-operator"]  # namespace-release: unique cluster-wide
    assert any("scrapejobs" in rule["resources"] for rule in operator_role["rules"])
    assert any("clusterkopfpeerings" in rule["resources"] for rule in operator_role["rules"])
    assert not any("namespaces" in rule["resources"] for role in roles.values() for rule in role["rules"])
    assert "ClusterRoleBinding" in {m["kind"] for m in manifests}
    operator = by_kind(manifests, "Deployment")[f"{RELEASE}-operator"]["spec"]["template"]["spec"]["containers"][0]
    env = env_of(operator)
    assert env["CRAWLFLEET_OPERATOR_NAMESPACES"]["value"] == "", "empty watches every namespace"
    # It runs only what is labelled for it, and the chart labels its own pools so.
    assert env["CRAWLFLEET_OPERATOR_RELEASE"]["value"] == RELEASE
    [pool] = by_kind(manifests, "WorkerPool").values()
    assert pool["metadata"]["labels"]["crawlfleet.io/release"] == RELEASE
    [peering] = [m for m in manifests if m["kind"] == "ClusterKopfPeering"]
    assert peering["metadata"]["name"] == env["CRAWLFLEET_OPERATOR_PEERING"]["value"]


def test_given_credentials_and_image_digest(helm: Helm) -> None:
    digest = "sha256:" + "a" * 64
    manifests = helm.template(
        {
            "image": {"digest": digest},
            "api": {"existingSecret": "my-tokens", "existingSecretKey": "list"},
            "redis": {"auth": {"existingSecret": "my-redis"}, "persistence": {"enabled": False}},
            "flower": {"auth": {"existingSecret": "my-flower"}},
        }
    )
    assert set(by_kind(manifests, "Secret")) == set(), "given Secrets are used, not rendered"
    api = containers(manifests)[f"Deployment/{RELEASE}-api/api"]
    assert api["image"] == f"ghcr.io/crawlfleet/crawlfleet@{digest}"
    assert env_of(api)["CRAWLFLEET_API_TOKENS"]["valueFrom"]["secretKeyRef"] == {"name": "my-tokens", "key": "list"}
    assert env_of(api)["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "my-redis"
    redis = by_kind(manifests, "StatefulSet")[f"{RELEASE}-redis"]["spec"]
    assert "volumeClaimTemplates" not in redis
    assert {"name": "data", "emptyDir": {}} in redis["template"]["spec"]["volumes"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"config": {"softTimeLimitSeconds": 100, "hardTimeLimitSeconds": 200, "visibilityTimeoutSeconds": 150}},
            "need softTimeLimitSeconds < hardTimeLimitSeconds < visibilityTimeoutSeconds",
        ),
        (
            {
                "workers": {
                    "pools": [
                        {"name": "a", "queue": "same", "concurrency": 1, "minReplicas": 0, "maxReplicas": 1},
                        {"name": "b", "queue": "same", "concurrency": 1, "minReplicas": 0, "maxReplicas": 1},
                    ]
                }
            },
            'the queue "same" is used by two pools',
        ),
        (
            {"workers": {"pools": [{"name": "a", "queue": "a", "concurrency": 1, "minReplicas": 5, "maxReplicas": 2}]}},
            "maxReplicas must be at least minReplicas",
        ),
    ],
    ids=["time-limits-out-of-order", "queue-shared-by-two-pools", "max-below-min"],
)
def test_rules_across_values_fail_with_the_reason(helm: Helm, values: dict[str, Any], message: str) -> None:
    result = helm.run_with_values("template", RELEASE, str(CHART), values=values, check=False)
    assert result.returncode != 0
    assert message in result.stderr


def test_a_pool_runs_the_image_with_its_installed_project(helm: Helm) -> None:
    """A pool of an image built FROM crawlfleet's with a Scrapy project installed: its
    workers run that image and are told the project's settings module; other pools are not."""
    pools = [
        {"name": "default", "queue": "default", "concurrency": 4, "minReplicas": 1, "maxReplicas": 10},
        {
            "name": "pricewatch",
            "queue": "pricewatch",
            "concurrency": 2,
            "minReplicas": 0,
            "maxReplicas": 5,
            "image": "registry.example.com/team/pricewatch-worker:1.4",
            "projectSettingsModule": "pricewatch.settings",
        },
    ]
    deployments = by_kind(helm.template({"workers": {"pools": pools}}), "Deployment")
    project = deployments[f"{RELEASE}-worker-pricewatch"]["spec"]["template"]["spec"]["containers"][0]
    assert project["image"] == "registry.example.com/team/pricewatch-worker:1.4"
    assert env_of(project)["CRAWLFLEET_PROJECT_SETTINGS_MODULE"]["value"] == "pricewatch.settings"
    default = deployments[f"{RELEASE}-worker-default"]["spec"]["template"]["spec"]["containers"][0]
    assert default["image"].startswith("ghcr.io/crawlfleet/crawlfleet:")
    assert "CRAWLFLEET_PROJECT_SETTINGS_MODULE" not in env_of(default)


@pytest.mark.parametrize(
    ("dns", "allowed", "refused"),
    [
        ({}, [], []),
        (
            # NodeLocal DNSCache answers on a link-local address, inside the excluded 169.254/16.
            {"to": [{"ipBlock": {"cidr": "169.254.20.10/32"}}]},
            [("169.254.20.10", 53)],
            [("169.254.169.254", 53), ("169.254.169.254", 80)],
        ),
        (
            # OpenShift's DNS pods listen on 5353 behind the Service's 53.
            {
                "to": [
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "openshift-dns"}},
                        "podSelector": {"matchLabels": {"dns.operator.openshift.io/daemonset-dns": "default"}},
                    }
                ],
                "ports": [{"port": 5353, "protocol": "UDP"}, {"port": 5353, "protocol": "TCP"}],
            },
            [],
            [],
        ),
    ],
    ids=["kube-dns", "nodelocal-dnscache", "openshift"],
)
def test_worker_dns_egress_is_configurable(
    helm: Helm, dns: dict[str, Any], allowed: list[tuple[str, int]], refused: list[tuple[str, int]]
) -> None:
    manifests = helm.template({"networkPolicy": {"dns": dns}} if dns else None)
    policy = by_kind(manifests, "NetworkPolicy")[f"{RELEASE}-worker"]
    rule = policy["spec"]["egress"][0]
    assert rule["to"] == dns.get("to", rule["to"])
    ports = dns.get("ports", [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}])
    assert rule["ports"] == ports
    for address, port in allowed:
        assert egress_allows(policy, address, port, "UDP"), address
    for address, port in refused:
        assert not egress_allows(policy, address, port, "UDP"), f"{address}:{port}"


def test_platform_knobs(helm: Helm) -> None:
    spread = {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway"}
    ca = {"name": "redis-ca", "configMap": {"name": "redis-ca"}}
    mount = {"name": "redis-ca", "mountPath": "/etc/redis-ca", "readOnly": True}
    manifests = helm.template(
        {
            "extraVolumes": [ca],
            "extraVolumeMounts": [mount],
            "workers": {"priorityClassName": "crawls", "topologySpreadConstraints": [spread], "podLabels": {"t": "w"}},
            "api": {"priorityClassName": "platform", "podAnnotations": {"a": "b"}},
            "redis": {"external": {"url": "rediss://r.example.com:6380", "username": "crawler"}},
        }
    )
    deployments = by_kind(manifests, "Deployment")
    worker = deployments[f"{RELEASE}-worker-default"]["spec"]["template"]
    assert worker["spec"]["priorityClassName"] == "crawls"
    # A constraint without a labelSelector spreads the pool's own pods.
    [constraint] = worker["spec"]["topologySpreadConstraints"]
    assert constraint["labelSelector"]["matchLabels"]["crawlfleet.io/pool"] == "default"
    assert worker["metadata"]["labels"]["t"] == "w"
    assert deployments[f"{RELEASE}-api"]["spec"]["template"]["spec"]["priorityClassName"] == "platform"
    for key, spec in pod_specs(manifests).items():
        if key.startswith("Pod/"):
            continue  # the `helm test` hook speaks HTTP to the API only
        assert ca in spec["volumes"], key
        assert all(mount in container["volumeMounts"] for container in spec["containers"]), key
    api = containers(manifests)[f"Deployment/{RELEASE}-api/api"]
    assert env_of(api)["CRAWLFLEET_BROKER_URL"]["value"] == "rediss://crawler@r.example.com:6380/0"


def test_redis_refuses_writes_before_its_memory_limit(helm: Helm, default_manifests: list[Manifest]) -> None:
    redis = containers(default_manifests)[f"StatefulSet/{RELEASE}-redis/redis"]
    assert env_of(redis)["MEMORY_LIMIT_BYTES"]["valueFrom"]["resourceFieldRef"]["resource"] == "limits.memory"
    assert "maxmemory %d" in redis["command"][-1]
    explicit = helm.template({"redis": {"maxmemory": "2gb"}})
    config = by_kind(explicit, "ConfigMap")[f"{RELEASE}-redis"]["data"]["redis.conf"]
    assert "maxmemory 2gb" in config
    assert "maxmemory %d" not in containers(explicit)[f"StatefulSet/{RELEASE}-redis/redis"]["command"][-1]


def test_redis_exporter(helm: Helm) -> None:
    manifests = helm.template(
        {"redis": {"metrics": {"enabled": True}}, "metrics": {"serviceMonitor": {"enabled": True}}},
        api_versions=["monitoring.coreos.com/v1"],
    )
    exporter = containers(manifests)[f"StatefulSet/{RELEASE}-redis/exporter"]
    assert exporter["image"].startswith("oliver006/redis_exporter:")
    assert env_of(exporter)["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == f"{RELEASE}-redis"
    service = by_kind(manifests, "Service")[f"{RELEASE}-redis"]
    assert "metrics" in {port["name"] for port in service["spec"]["ports"]}
    [monitor] = by_kind(manifests, "ServiceMonitor").values()
    assert "redis" in monitor["spec"]["selector"]["matchExpressions"][0]["values"]
    policy = by_kind(manifests, "NetworkPolicy")[f"{RELEASE}-redis"]
    assert {"ports": [{"port": "metrics", "protocol": "TCP"}]} in policy["spec"]["ingress"]


def test_prometheus_rule(helm: Helm) -> None:
    values = {"metrics": {"prometheusRule": {"enabled": True, "labels": {"release": "prometheus"}}}}
    assert not by_kind(helm.template(values), "PrometheusRule")
    [rule] = by_kind(helm.template(values, api_versions=["monitoring.coreos.com/v1"]), "PrometheusRule").values()
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    alerts = {alert["alert"]: alert for alert in rule["spec"]["groups"][0]["rules"]}
    assert set(alerts) == {
        "CrawlfleetQueueGrowingAtMaxReplicas",
        "CrawlfleetJobsFailing",
        "CrawlfleetOperatorNotReconciling",
    }
    assert "crawlfleet_pool_max_replicas" in alerts["CrawlfleetQueueGrowingAtMaxReplicas"]["expr"]
    assert "crawlfleet_operator_ready" in alerts["CrawlfleetOperatorNotReconciling"]["expr"]
    assert 'type="task-failed"' in alerts["CrawlfleetJobsFailing"]["expr"]


def test_default_roles_learn_the_crawlfleet_resources(default_manifests: list[Manifest]) -> None:
    roles = {
        role["metadata"]["name"].rsplit("-", 1)[-1]: role for role in by_kind(default_manifests, "ClusterRole").values()
    }
    assert roles["view"]["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    assert roles["view"]["rules"][0]["verbs"] == ["get", "list", "watch"]
    assert roles["edit"]["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert roles["edit"]["rules"][0]["resources"] == ["scrapejobs"], "pools stay the platform team's"


def test_an_ha_operator_keeps_a_replica_through_drains(helm: Helm) -> None:
    manifests = helm.template({"operator": {"replicas": 2}})
    assert by_kind(manifests, "Deployment")[f"{RELEASE}-operator"]["spec"]["replicas"] == 2
    budget = by_kind(manifests, "PodDisruptionBudget")[f"{RELEASE}-operator"]
    assert budget["spec"]["maxUnavailable"] == 1


def test_the_uninstall_hook_runs_before_anything_is_deleted(default_manifests: list[Manifest]) -> None:
    hook = by_kind(default_manifests, "Job")[f"{RELEASE}-uninstall"]
    assert hook["metadata"]["annotations"]["helm.sh/hook"] == "pre-delete"
    container = hook["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:3] == ["python", "-m", "crawlfleet_operator.uninstall"]
    operator = containers(default_manifests)[f"Deployment/{RELEASE}-operator/operator"]
    scope = ("CRAWLFLEET_OPERATOR_NAMESPACES", "CRAWLFLEET_OPERATOR_RELEASE")
    assert {name: env_of(container)[name] for name in scope} == {name: env_of(operator)[name] for name in scope}


def test_secrets_have_checksums_on_the_pods_that_read_them(default_manifests: list[Manifest]) -> None:
    annotations = {
        key.split("/")[1]: spec_annotations
        for key, spec_annotations in (
            (f"{m['kind']}/{m['metadata']['name']}", m["spec"]["template"]["metadata"].get("annotations", {}))
            for m in default_manifests
            if m["kind"] in ("Deployment", "StatefulSet")
        )
    }
    secrets = {
        name: {key for key in found if key.startswith("checksum/secret-")} for name, found in annotations.items()
    }
    assert secrets == {
        f"{RELEASE}-api": {"checksum/secret-redis", "checksum/secret-api"},
        f"{RELEASE}-flower": {"checksum/secret-redis", "checksum/secret-flower"},
        f"{RELEASE}-operator": {"checksum/secret-redis"},
        f"{RELEASE}-worker-default": {"checksum/secret-redis"},
        f"{RELEASE}-redis": {"checksum/secret-redis"},
    }


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"config": {"defaultQueue": "nowhere"}}, 'config.defaultQueue: no pool consumes the queue "nowhere"'),
        (
            {
                "api": {
                    "ingress": {
                        "enabled": True,
                        "hosts": [{"host": "a", "paths": [{"path": "/", "pathType": "Prefix"}]}],
                    }
                }
            },
            'api.ingress: the path "/" would publish the API\'s /metrics',
        ),
    ],
    ids=["default-queue-without-a-pool", "ingress-publishing-metrics"],
)
def test_platform_mistakes_fail_with_the_reason(helm: Helm, values: dict[str, Any], message: str) -> None:
    result = helm.run_with_values("template", RELEASE, str(CHART), values=values, check=False)
    assert result.returncode != 0
    assert message in result.stderr


def test_the_log_level_reaches_every_component(helm: Helm) -> None:
    every = containers(helm.template({"config": {"logLevel": "warning"}}))
    assert "--log-level=warning" in every[f"Deployment/{RELEASE}-api/api"]["args"]
    assert "--loglevel=WARNING" in every[f"Deployment/{RELEASE}-worker-default/worker"]["args"]
    assert "--logging=warning" in every[f"Deployment/{RELEASE}-flower/flower"]["args"]
    operator = env_of(every[f"Deployment/{RELEASE}-operator/operator"])
    assert operator["CRAWLFLEET_OPERATOR_LOG_LEVEL"]["value"] == "warning"
