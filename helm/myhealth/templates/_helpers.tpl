{{/* Chart name and fully qualified app name. */}}
{{- define "myhealth.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "myhealth.fullname" -}}
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

{{/* Common labels; call with (dict "ctx" $ "component" "gateway"). */}}
{{- define "myhealth.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: myhealth
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
{{ include "myhealth.selectorLabels" . }}
{{- end }}

{{- define "myhealth.selectorLabels" -}}
app.kubernetes.io/name: {{ include "myhealth.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{- define "myhealth.componentName" -}}
{{- printf "%s-%s" (include "myhealth.fullname" .ctx) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "myhealth.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{- define "myhealth.usesScram" -}}
{{- if hasPrefix "SCRAM" .Values.kafka.saslMechanism }}true{{ end }}
{{- end }}

{{/* Non-secret configuration (ENV name -> value), shared by the ConfigMap and the migrations hook. */}}
{{- define "myhealth.config" -}}
ENVIRONMENT: {{ .Values.environment | quote }}
LOG_LEVEL: {{ .Values.logLevel | quote }}
DB_HOST: {{ required "database.host is required" .Values.database.host | quote }}
DB_PORT: {{ .Values.database.port | quote }}
DB_NAME: {{ .Values.database.name | quote }}
SSL_MODE: {{ .Values.database.sslMode | quote }}
{{- if hasPrefix "verify" .Values.database.sslMode }}
SSL_ROOT_CERT: {{ .Values.database.sslRootCert | quote }}
{{- end }}
DB_POOL_MIN: {{ .Values.database.poolMin | quote }}
DB_POOL_MAX: {{ .Values.database.poolMax | quote }}
KAFKA_BOOTSTRAP_SERVERS: {{ required "kafka.bootstrapServers is required" .Values.kafka.bootstrapServers | quote }}
KAFKA_SECURITY_PROTOCOL: {{ .Values.kafka.securityProtocol | quote }}
{{- if hasPrefix "SASL" .Values.kafka.securityProtocol }}
KAFKA_SASL_MECHANISM: {{ .Values.kafka.saslMechanism | quote }}
{{- end }}
{{- if eq .Values.kafka.saslMechanism "OAUTHBEARER" }}
KAFKA_AWS_REGION: {{ required "kafka.awsRegion is required for MSK IAM" .Values.kafka.awsRegion | quote }}
{{- end }}
KAFKA_TOPIC_PREFIX: {{ .Values.kafka.topicPrefix | quote }}
KAFKA_REPLICATION_FACTOR: {{ .Values.kafka.replicationFactor | quote }}
OURA_REDIRECT_URI: {{ .Values.oura.redirectUri | quote }}
OURA_API_BASE_URL: {{ .Values.oura.apiBaseUrl | quote }}
OURA_AUTHORIZE_URL: {{ .Values.oura.authorizeUrl | quote }}
OURA_TOKEN_URL: {{ .Values.oura.tokenUrl | quote }}
OURA_REVOKE_URL: {{ .Values.oura.revokeUrl | quote }}
{{- if .Values.webhooks.enabled }}
OURA_WEBHOOK_CALLBACK_URL: {{ required "webhooks.callbackUrl is required with webhooks.enabled" .Values.webhooks.callbackUrl | quote }}
{{- end }}
{{- end }}

{{/*
Secret environment variables as env entries. Call with (dict "ctx" $ "needs" (list "db" "jwt" ...)).
With External Secrets each logical secret is its own Secret; otherwise all come from existingSecret.
*/}}
{{- define "myhealth.secretEnv" -}}
{{- $ctx := .ctx }}
{{- $full := include "myhealth.fullname" $ctx }}
{{- $map := dict
  "db" (list (list "DB_USER" "db" "username") (list "DB_PASSWORD" "db" "password"))
  "jwt" (list (list "JWT_SECRET" "jwt" "secret"))
  "oura" (list (list "OURA_CLIENT_ID" "oura" "client_id") (list "OURA_CLIENT_SECRET" "oura" "client_secret"))
  "tokenEncryption" (list (list "TOKEN_ENCRYPTION_KEYS" "token-encryption" "keys"))
  "webhook" (list (list "OURA_WEBHOOK_VERIFICATION_TOKEN" "oura" "webhook_verification_token"))
  "kafka" (list (list "KAFKA_SASL_USERNAME" "kafka" "username") (list "KAFKA_SASL_PASSWORD" "kafka" "password")) }}
{{- range $need := .needs }}
{{- if or (ne $need "kafka") (include "myhealth.usesScram" $ctx) }}
{{- range $entry := index $map $need }}
- name: {{ index $entry 0 }}
  valueFrom:
    secretKeyRef:
      {{- if $ctx.Values.externalSecrets.enabled }}
      name: {{ printf "%s-%s" $full (index $entry 1) }}
      key: {{ index $entry 2 }}
      {{- else }}
      name: {{ required "existingSecret is required when externalSecrets.enabled is false" $ctx.Values.existingSecret }}
      key: {{ index $entry 0 }}
      {{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{- define "myhealth.serviceAccountAnnotations" -}}
{{- if .roleArn }}
annotations:
  eks.amazonaws.com/role-arn: {{ .roleArn | quote }}
{{- end }}
{{- end }}

{{/* Pod annotations for Istio; call with (dict "ctx" $ "job" true|false). */}}
{{- define "myhealth.istioPodAnnotations" -}}
{{- if .ctx.Values.istio.enabled }}
sidecar.istio.io/inject: "true"
{{- if and .job .ctx.Values.istio.nativeSidecarForJobs }}
sidecar.istio.io/nativeSidecar: "true"
{{- end }}
{{- end }}
{{- end }}

{{/* Volumes every workload mounts: /tmp on an emptyDir (the root filesystem is read-only). */}}
{{- define "myhealth.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
{{- end }}

{{/*
Checkov suppressions, each with its reason beside it (checkov reads checkov.io/skipN annotations).
Call with (dict "ctx" $ "kind" "deployment"|"job").
*/}}
{{- define "myhealth.checkovSkips" -}}
checkov.io/skip1: CKV_K8S_35=The services read settings from environment variables (pydantic-settings); the values come from AWS Secrets Manager via External Secrets and are never logged
checkov.io/skip4: CKV_K8S_43=Deployments pin the image digest (CI passes image.digest from the ECR push); ECR tags are immutable, so a tag is used only for local renders
{{- if eq .kind "job" }}
checkov.io/skip2: CKV_K8S_8=A run-to-completion Job has no long-lived process to probe; activeDeadlineSeconds and backoffLimit bound it
checkov.io/skip3: CKV_K8S_9=A run-to-completion Job receives no traffic, so it has no readiness to report
{{- end }}
{{- end }}

{{/* The gateway's web pages (gateway/pages/): routed by the ingress and allowed by the mesh. */}}
{{- define "myhealth.pagePaths" -}}
["/", "/signin", "/signup", "/signout", "/connection", "/connect", "/connect/oura", "/disconnect", "/data", "/password", "/account/delete", "/export.csv", "/export.json"]
{{- end }}
