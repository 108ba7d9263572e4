{{/*
The Secrets the chart generates, as defines: the Secret templates render them, and
"crawlfleet.podChecksums" hashes them. Each renders nothing when you give your own.
*/}}
{{- define "crawlfleet.redis.secret" -}}
{{- if and (include "crawlfleet.redis.bundled" .) (not .Values.redis.auth.existingSecret) -}}
{{- $name := include "crawlfleet.redis.fullname" . }}
{{- $key := .Values.redis.auth.existingSecretPasswordKey }}
{{- $password := include "crawlfleet.secretValue" (dict "root" . "secret" $name "key" $key "given" .Values.redis.auth.password) }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ $name }}
  labels:
    {{- include "crawlfleet.componentLabels" (dict "root" . "component" "redis") | nindent 4 }}
type: Opaque
data:
  {{ $key }}: {{ $password | b64enc | quote }}
{{- end }}
{{- end }}

{{- define "crawlfleet.api.secret" -}}
{{- if not .Values.api.existingSecret -}}
{{- $name := include "crawlfleet.api.secretName" . }}
{{- $tokens := include "crawlfleet.secretValue" (dict "root" . "secret" $name "key" "tokens" "given" (join "," .Values.api.tokens)) }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ $name }}
  labels:
    {{- include "crawlfleet.componentLabels" (dict "root" . "component" "api") | nindent 4 }}
type: Opaque
data:
  tokens: {{ $tokens | b64enc | quote }}
{{- end }}
{{- end }}

{{- define "crawlfleet.flower.secret" -}}
{{- if and .Values.flower.enabled (not .Values.flower.auth.existingSecret) -}}
{{- $name := include "crawlfleet.flower.secretName" . }}
{{- $password := include "crawlfleet.secretValue" (dict "root" . "secret" $name "key" "password" "given" .Values.flower.auth.password) }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ $name }}
  labels:
    {{- include "crawlfleet.componentLabels" (dict "root" . "component" "flower") | nindent 4 }}
type: Opaque
data:
  username: {{ .Values.flower.auth.username | b64enc | quote }}
  password: {{ $password | b64enc | quote }}
{{- end }}
{{- end }}
