{{/*
Expand the name of the chart.
*/}}
{{- define "crawlfleet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name.
We truncate at 63 chars because some Kubernetes name fields are limited to this (by the DNS naming spec).
If release name contains chart name it will be used as a full name.
*/}}
{{- define "crawlfleet.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Create chart name and version as used by the chart label.
*/}}
{{- define "crawlfleet.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "crawlfleet.labels" -}}
helm.sh/chart: {{ include "crawlfleet.chart" . }}
{{ include "crawlfleet.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: crawlfleet
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels.
*/}}
{{- define "crawlfleet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "crawlfleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of one component's objects. Call with (dict "root" $ "component" "api").
*/}}
{{- define "crawlfleet.componentLabels" -}}
{{ include "crawlfleet.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Selector labels of one component's pods. Call with (dict "root" $ "component" "api").
*/}}
{{- define "crawlfleet.componentSelectorLabels" -}}
{{ include "crawlfleet.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
The ServiceAccount of the pods that never talk to the Kubernetes API.
*/}}
{{- define "crawlfleet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "crawlfleet.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The operator's ServiceAccount.
*/}}
{{- define "crawlfleet.operator.serviceAccountName" -}}
{{- default (printf "%s-operator" (include "crawlfleet.fullname" .)) .Values.operator.serviceAccount.name }}
{{- end }}

{{/*
The crawlfleet image reference; a digest wins over a tag.
*/}}
{{- define "crawlfleet.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Whether the bundled Redis renders: only when no external Redis is configured.
Returns "true" or "".
*/}}
{{- define "crawlfleet.redis.bundled" -}}
{{- if not (or .Values.redis.external.url .Values.redis.external.sentinel.hosts) }}true{{ end }}
{{- end }}

{{- define "crawlfleet.redis.fullname" -}}
{{- printf "%s-redis" (include "crawlfleet.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The Secret and key holding the Redis password; empty name when there is none.
*/}}
{{- define "crawlfleet.redis.secretName" -}}
{{- if include "crawlfleet.redis.bundled" . }}
{{- default (include "crawlfleet.redis.fullname" .) .Values.redis.auth.existingSecret }}
{{- else }}
{{- .Values.redis.external.existingSecret }}
{{- end }}
{{- end }}

{{- define "crawlfleet.redis.secretKey" -}}
{{- if include "crawlfleet.redis.bundled" . }}
{{- .Values.redis.auth.existingSecretPasswordKey }}
{{- else }}
{{- .Values.redis.external.existingSecretPasswordKey }}
{{- end }}
{{- end }}

{{/*
The URL of one Redis database. Call with (dict "root" $ "db" 0). The password is
not in the rendered manifest: the kubelet expands $(REDIS_PASSWORD) from the Secret.
*/}}
{{- define "crawlfleet.redis.url" -}}
{{- $root := .root }}
{{- $user := "" }}
{{- if not (include "crawlfleet.redis.bundled" $root) }}
{{- $user = $root.Values.redis.external.username }}
{{- end }}
{{- $auth := "" }}
{{- if include "crawlfleet.redis.secretName" $root }}
{{- $auth = printf "%s:$(REDIS_PASSWORD)@" $user }}
{{- else if $user }}
{{- $auth = printf "%s@" $user }}
{{- end }}
{{- if include "crawlfleet.redis.bundled" $root }}
{{- printf "redis://%s%s:6379/%d" $auth (include "crawlfleet.redis.fullname" $root) (int .db) }}
{{- else if $root.Values.redis.external.sentinel.hosts }}
{{- $db := int .db }}
{{- $urls := list }}
{{- range $root.Values.redis.external.sentinel.hosts }}
{{- $urls = append $urls (printf "sentinel://%s%s/%d" $auth . $db) }}
{{- end }}
{{- join ";" $urls }}
{{- else }}
{{- $url := urlParse $root.Values.redis.external.url }}
{{- $query := "" }}
{{- if $url.query }}
{{- $query = printf "?%s" $url.query }}
{{- end }}
{{- printf "%s://%s%s/%d%s" $url.scheme $auth $url.host (int .db) $query }}
{{- end }}
{{- end }}

{{/*
Environment of every crawlfleet container: the Redis URLs. The settings that are not
secret come from the ConfigMap (see crawlfleet.envFrom).
*/}}
{{- define "crawlfleet.env" -}}
{{- $secret := include "crawlfleet.redis.secretName" . }}
{{- if $secret }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ include "crawlfleet.redis.secretKey" . }}
{{- end }}
- name: CRAWLFLEET_BROKER_URL
  value: {{ include "crawlfleet.redis.url" (dict "root" . "db" .Values.redis.databases.broker) | quote }}
- name: CRAWLFLEET_RESULT_BACKEND
  value: {{ include "crawlfleet.redis.url" (dict "root" . "db" .Values.redis.databases.results) | quote }}
- name: CRAWLFLEET_JOB_STORE_URL
  value: {{ include "crawlfleet.redis.url" (dict "root" . "db" .Values.redis.databases.jobStore) | quote }}
{{- with .Values.redis.external.sentinel.hosts }}
- name: CRAWLFLEET_REDIS_SENTINEL_MASTER
  value: {{ $.Values.redis.external.sentinel.masterName | quote }}
{{- end }}
{{- with .Values.config.feeds.secretName }}
- name: CRAWLFLEET_FEEDS_S3_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: access-key-id
- name: CRAWLFLEET_FEEDS_S3_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: secret-access-key
{{- end }}
{{- with .Values.config.webhookSecret.name }}
- name: CRAWLFLEET_WEBHOOK_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.config.webhookSecret.key }}
{{- end }}
{{- with .Values.config.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The ConfigMap of the settings that are not secret: configmap.yaml renders it, and
"crawlfleet.podChecksums" hashes it.
*/}}
{{- define "crawlfleet.configMap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "crawlfleet.fullname" . }}
  labels:
    {{- include "crawlfleet.labels" . | nindent 4 }}
data:
  CRAWLFLEET_SOFT_TIME_LIMIT_SECONDS: {{ .Values.config.softTimeLimitSeconds | int64 | quote }}
  CRAWLFLEET_HARD_TIME_LIMIT_SECONDS: {{ .Values.config.hardTimeLimitSeconds | int64 | quote }}
  CRAWLFLEET_VISIBILITY_TIMEOUT_SECONDS: {{ .Values.config.visibilityTimeoutSeconds | int64 | quote }}
  CRAWLFLEET_RESULT_TTL_SECONDS: {{ .Values.config.resultTtlSeconds | int64 | quote }}
  CRAWLFLEET_ITEMS_MAX_PER_JOB: {{ .Values.config.itemsMaxPerJob | int64 | quote }}
  CRAWLFLEET_DEFAULT_QUEUE: {{ .Values.config.defaultQueue | quote }}
  CRAWLFLEET_ALLOWED_NETWORKS: {{ join "," .Values.config.allowedNetworks | quote }}
  CRAWLFLEET_FEEDS_S3_BUCKETS: {{ join "," .Values.config.feeds.buckets | quote }}
  CRAWLFLEET_FEEDS_S3_ENDPOINT_URL: {{ .Values.config.feeds.endpointUrl | quote }}
  CRAWLFLEET_FEEDS_S3_REGION: {{ .Values.config.feeds.region | quote }}
  # The root filesystem is read-only: no bytecode files, and a writable home in /tmp.
  PYTHONDONTWRITEBYTECODE: "1"
  PYTHONUNBUFFERED: "1"
  HOME: /tmp
{{- end }}

{{- define "crawlfleet.envFrom" -}}
- configMapRef:
    name: {{ include "crawlfleet.fullname" . }}
{{- end }}

{{/*
Pod annotations that roll the pods when what they read at start changes: the settings
and the Secrets they take values from. A Secret the chart renders is hashed as
rendered; one you give (`existingSecret`) as it is in the cluster at upgrade time,
so `helm upgrade` after rotating it rolls the pods too. Call with
(dict "root" $ "secrets" (list "redis" "api")).
*/}}
{{- define "crawlfleet.podChecksums" -}}
{{- $root := .root }}
checksum/config: {{ include "crawlfleet.configMap" $root | sha256sum }}
{{- range .secrets }}
checksum/secret-{{ . }}: {{ include "crawlfleet.secretChecksum" (dict "root" $root "secret" .) }}
{{- end }}
{{- end }}

{{/*
The checksum of one of the Secrets the chart uses (see above). Call with
(dict "root" $ "secret" "redis").
*/}}
{{- define "crawlfleet.secretChecksum" -}}
{{- $rendered := include (printf "crawlfleet.%s.secret" .secret) .root }}
{{- $name := include (printf "crawlfleet.%s.secretName" .secret) .root }}
{{- $live := "" }}
{{- if and (not $rendered) $name }}
{{- $live = (lookup "v1" "Secret" .root.Release.Namespace $name).data | toJson }}
{{- end }}
{{- $rendered | default $live | sha256sum }}
{{- end }}

{{/*
The writable /tmp of a read-only root filesystem.
*/}}
{{- define "crawlfleet.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end }}

{{- define "crawlfleet.tmpVolumeMount" -}}
- name: tmp
  mountPath: /tmp
{{- end }}

{{/*
The volumes of a crawlfleet pod, and their mounts: /tmp and the `extraVolumes` every
crawlfleet container gets (a CA bundle for `rediss://`, for instance).
*/}}
{{- define "crawlfleet.volumes" -}}
{{ include "crawlfleet.tmpVolume" . }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "crawlfleet.volumeMounts" -}}
{{ include "crawlfleet.tmpVolumeMount" . }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Where a component's pods run: node selector, affinity, tolerations, priority class
and topology spread (each constraint selects the component's pods unless it names
its own labelSelector). Call with (dict "values" .Values.api "selector" labels),
plus "nodeSelector" and "tolerations" to override the component's.
*/}}
{{- define "crawlfleet.scheduling" -}}
{{- $selector := .selector }}
{{- with .nodeSelector | default .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations | default .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- range . }}
  - {{- toYaml (merge (deepCopy .) (dict "labelSelector" (dict "matchLabels" $selector))) | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}

{{/*
The pod spec fields every crawlfleet pod shares.
*/}}
{{- define "crawlfleet.podDefaults" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end }}

{{/*
The worker Deployment of a pool. Call with (dict "root" $ "pool" $pool).
*/}}
{{- define "crawlfleet.worker.fullname" -}}
{{- printf "%s-worker-%s" (include "crawlfleet.fullname" .root) .pool.name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Seconds a stopping worker gets for its running crawls.
*/}}
{{- define "crawlfleet.worker.terminationGracePeriodSeconds" -}}
{{- if kindIs "invalid" .Values.workers.terminationGracePeriodSeconds }}
{{- add .Values.config.hardTimeLimitSeconds 30 }}
{{- else }}
{{- .Values.workers.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/*
Rules the schema cannot express; rendering fails with the reason.
*/}}
{{- define "crawlfleet.validateValues" -}}
{{- $c := .Values.config }}
{{- if not (and (lt (int $c.softTimeLimitSeconds) (int $c.hardTimeLimitSeconds)) (lt (int $c.hardTimeLimitSeconds) (int $c.visibilityTimeoutSeconds))) }}
{{- fail "config: need softTimeLimitSeconds < hardTimeLimitSeconds < visibilityTimeoutSeconds, or a running job could be redelivered" }}
{{- end }}
{{- $names := dict }}
{{- $queues := dict }}
{{- range .Values.workers.pools }}
{{- if hasKey $names .name }}
{{- fail (printf "workers.pools: the name %q is used twice" .name) }}
{{- end }}
{{- if hasKey $queues .queue }}
{{- fail (printf "workers.pools: the queue %q is used by two pools; each queue needs one pool for the autoscaler" .queue) }}
{{- end }}
{{- if lt (int .maxReplicas) (int .minReplicas) }}
{{- fail (printf "workers.pools[%s]: maxReplicas must be at least minReplicas" .name) }}
{{- end }}
{{- $_ := set $names .name true }}
{{- $_ := set $queues .queue true }}
{{- end }}
{{- if not (hasKey $queues .Values.config.defaultQueue) }}
{{- fail (printf "config.defaultQueue: no pool consumes the queue %q, so jobs that name no queue would wait forever; use one of the queues of workers.pools" .Values.config.defaultQueue) }}
{{- end }}
{{- if and .Values.redis.external.url (regexMatch "@" .Values.redis.external.url) }}
{{- fail "redis.external.url: put the password in redis.external.existingSecret, not in the URL" }}
{{- end }}
{{- with .Values.redis.external.sentinel }}
{{- if and .hosts $.Values.redis.external.url }}
{{- fail "redis.external: set url or sentinel.hosts, not both" }}
{{- end }}
{{- if and .hosts (not .masterName) }}
{{- fail "redis.external.sentinel.masterName: name the primary the sentinels watch (their monitor name)" }}
{{- end }}
{{- end }}
{{- if and .Values.api.ingress.enabled (not .Values.api.ingress.publishMetrics) }}
{{- range .Values.api.ingress.hosts }}
{{- range .paths }}
{{- $prefix := trimSuffix "/" .path }}
{{- if or (eq .path "/metrics") (and (ne .pathType "Exact") (or (eq $prefix "") (eq $prefix "/metrics"))) }}
{{- fail (printf "api.ingress: the path %q would publish the API's /metrics, which answers without a token; route /v1 and /docs only, or set api.ingress.publishMetrics (behind your Ingress's own authentication)" .path) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Rules about the other crawlfleet releases in the cluster, read with `lookup` (so
`helm template` cannot check them): operators of two releases must never run the
same ScrapeJobs and WorkerPools.
*/}}
{{- define "crawlfleet.validateCluster" -}}
{{- if .Values.operator.enabled }}
{{- if .Values.operator.clusterWide }}
{{- range (lookup "rbac.authorization.k8s.io/v1" "ClusterRole" "" "").items | default list }}
{{- $labels := .metadata.labels | default dict }}
{{- $annotations := .metadata.annotations | default dict }}
{{- if and (eq (get $labels "crawlfleet.io/release") $.Release.Name) (ne (get $annotations "meta.helm.sh/release-namespace") $.Release.Namespace) }}
{{- fail (printf "operator.clusterWide: the release %q of namespace %q already runs a cluster-wide operator for the ScrapeJobs and WorkerPools labelled crawlfleet.io/release=%s; install this one under another release name" $.Release.Name (get $annotations "meta.helm.sh/release-namespace") $.Release.Name) }}
{{- end }}
{{- end }}
{{- else }}
{{- range (lookup "apps/v1" "Deployment" .Release.Namespace "").items | default list }}
{{- $labels := .metadata.labels | default dict }}
{{- if and (eq (get $labels "app.kubernetes.io/part-of") "crawlfleet") (eq (get $labels "app.kubernetes.io/component") "operator") (ne (get $labels "app.kubernetes.io/instance") $.Release.Name) (not (hasKey $labels "crawlfleet.io/release")) }}
{{- fail (printf "the namespace %q already has the operator of the crawlfleet release %q, which runs its ScrapeJobs and WorkerPools; install this release in another namespace, or with operator.clusterWide" $.Release.Namespace (get $labels "app.kubernetes.io/instance")) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
A secret value: the given one, else the one a previous install stored in the
Secret, else a new random one. Reusing the stored value keeps `helm upgrade` from
changing passwords and tokens under running pods and clients. The value is worked
out once per render and remembered, so the Secret and the checksums that roll the
pods see the same one. Call with (dict "root" $ "secret" name "key" key "given" value).
*/}}
{{- define "crawlfleet.secretValue" -}}
{{- if not (hasKey .root.Values "_secretValues") }}
{{- $_ := set .root.Values "_secretValues" dict }}
{{- end }}
{{- $remembered := .root.Values._secretValues }}
{{- $id := printf "%s/%s" .secret .key }}
{{- if not (hasKey $remembered $id) }}
{{- $previous := (lookup "v1" "Secret" .root.Release.Namespace .secret).data | default dict }}
{{- $_ := set $remembered $id (.given | default (get $previous .key | b64dec) | default (randAlphaNum 32)) }}
{{- end }}
{{- get $remembered $id }}
{{- end }}

{{- define "crawlfleet.api.secretName" -}}
{{- default (printf "%s-api-tokens" (include "crawlfleet.fullname" .)) .Values.api.existingSecret }}
{{- end }}

{{- define "crawlfleet.api.secretKey" -}}
{{- if .Values.api.existingSecret }}{{ .Values.api.existingSecretKey }}{{ else }}tokens{{ end }}
{{- end }}

{{- define "crawlfleet.flower.secretName" -}}
{{- default (printf "%s-flower" (include "crawlfleet.fullname" .)) .Values.flower.auth.existingSecret }}
{{- end }}

{{/*
Which ScrapeJobs and WorkerPools the operator runs (and its uninstall hook deletes):
every one without the release label in the release's namespace, or, cluster-wide,
those labelled `crawlfleet.io/release: <release>` in any namespace.
*/}}
{{- define "crawlfleet.operator.scopeEnv" -}}
- name: CRAWLFLEET_OPERATOR_NAMESPACES
  value: {{ if .Values.operator.clusterWide }}""{{ else }}{{ .Release.Namespace | quote }}{{ end }}
- name: CRAWLFLEET_OPERATOR_RELEASE
  value: {{ if .Values.operator.clusterWide }}{{ .Release.Name | quote }}{{ else }}""{{ end }}
{{- end }}

{{/*
The labels the chart puts on the WorkerPools it renders, so that its own operator runs them.
*/}}
{{- define "crawlfleet.operator.scopeLabels" -}}
{{- if .Values.operator.clusterWide }}
crawlfleet.io/release: {{ .Release.Name }}
{{- end }}
{{- end }}

{{/*
The kopf peering object of the operator's replicas: a KopfPeering next to them, or a
ClusterKopfPeering (cluster-scoped, so its name carries the namespace) when cluster-wide.
*/}}
{{- define "crawlfleet.operator.peeringName" -}}
{{- $name := printf "%s-operator" (include "crawlfleet.fullname" .) }}
{{- if .Values.operator.clusterWide }}{{ printf "%s-%s" .Release.Namespace $name }}{{ else }}{{ $name }}{{ end }}
{{- end }}

{{/*
Egress rules of every pod that runs crawlfleet code: the cluster's DNS, where and
on the ports networkPolicy.dns says (the port the DNS pods listen on, after a
Service's translation), and, when bundled, Redis.
*/}}
{{- define "crawlfleet.networkPolicy.platformEgress" -}}
- to:
    {{- toYaml .Values.networkPolicy.dns.to | nindent 4 }}
  ports:
    {{- toYaml .Values.networkPolicy.dns.ports | nindent 4 }}
{{- if include "crawlfleet.redis.bundled" . }}
- to:
    - podSelector:
        matchLabels:
          {{- include "crawlfleet.componentSelectorLabels" (dict "root" . "component" "redis") | nindent 10 }}
  ports:
    - port: 6379
      protocol: TCP
{{- end }}
{{- end }}
