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
{{- $auth := "" }}
{{- if include "crawlfleet.redis.secretName" $root }}
{{- $auth = ":$(REDIS_PASSWORD)@" }}
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
{{- with .Values.config.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "crawlfleet.envFrom" -}}
- configMapRef:
    name: {{ include "crawlfleet.fullname" . }}
{{- end }}

{{/*
Pod annotations that roll the pods when the settings change.
*/}}
{{- define "crawlfleet.configChecksum" -}}
checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
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
{{- end }}

{{/*
A secret value: the given one, else the one a previous install stored in the
Secret, else a new random one. Reusing the stored value keeps `helm upgrade` from
changing passwords and tokens under running pods and clients.
Call with (dict "root" $ "secret" name "key" key "given" value).
*/}}
{{- define "crawlfleet.secretValue" -}}
{{- $previous := (lookup "v1" "Secret" .root.Release.Namespace .secret).data | default dict }}
{{- .given | default (get $previous .key | b64dec) | default (randAlphaNum 32) }}
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
