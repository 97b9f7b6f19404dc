{{/* The release's name for everything it creates. */}}
{{- define "scraperx.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "scraperx.labels" -}}
app.kubernetes.io/part-of: scraperx
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The image of one binary: `include "scraperx.image" (list . "api")`. */}}
{{- define "scraperx.image" -}}
{{- $root := index . 0 -}}
{{- $binary := index . 1 -}}
{{- printf "%s/scraperx-%s:%s" $root.Values.image.registry $binary (default $root.Chart.AppVersion $root.Values.image.tag) -}}
{{- end -}}

{{/* What every component shares: the queue prefix. */}}
{{- define "scraperx.commonEnv" -}}
- name: SCRX_QUEUE_NAMESPACE
  value: {{ .Values.queueNamespace | quote }}
{{- end -}}

{{/*
Connection settings read key by key from the connection Secret: only the keys named, so a
component never sees another's credentials. `include "scraperx.secretEnv" (list . "A" "B")`.
*/}}
{{- define "scraperx.secretEnv" -}}
{{- $root := first . -}}
{{- range rest . }}
- name: {{ . }}
  valueFrom:
    secretKeyRef: { name: {{ $root.Values.connection.secretName }}, key: {{ . }} }
{{- end }}
{{- end -}}

{{/* Redis: REDIS_URL, and SCRX_REDIS_CLUSTER when the Secret has it ("true": REDIS_URL lists
Redis Cluster nodes, comma-separated). */}}
{{- define "scraperx.redisEnv" -}}
{{- include "scraperx.secretEnv" (list . "REDIS_URL") }}
- name: SCRX_REDIS_CLUSTER
  valueFrom:
    secretKeyRef: { name: {{ .Values.connection.secretName }}, key: SCRX_REDIS_CLUSTER, optional: true }
{{- end -}}

{{/* The pod-level securityContext of every pod (the operator sets the same on workers). */}}
{{- define "scraperx.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsUser }}
fsGroup: {{ .Values.podSecurity.runAsUser }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The container-level securityContext of every container. */}}
{{- define "scraperx.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* The backup target's settings: keys from the backup Secret, names from the values. */}}
{{- define "scraperx.backupTargetEnv" -}}
{{- range list "SCRX_BACKUP_S3_ENDPOINT" "SCRX_BACKUP_S3_ACCESS_KEY" "SCRX_BACKUP_S3_SECRET_KEY" }}
- name: {{ . }}
  valueFrom:
    secretKeyRef: { name: {{ $.Values.backup.secretName }}, key: {{ . }} }
{{- end }}
- name: SCRX_BACKUP_S3_REGION
  value: {{ .Values.backup.region | quote }}
- name: SCRX_BACKUP_BUCKET
  value: {{ .Values.backup.bucket | quote }}
- name: SCRX_BACKUP_MIRROR_PREFIX
  value: {{ .Values.backup.mirrorPrefix | quote }}
{{- end -}}

{{/*
The database settings of a component that may go through PgBouncer: without it, DATABASE_URL;
with it, DATABASE_URL is the pooled URL and SCRX_DATABASE_DIRECT_URL the direct one, for what
needs a session. The migration Job reads DATABASE_URL directly instead.
*/}}
{{- define "scraperx.databaseEnv" -}}
{{- if .Values.pgbouncer.enabled }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef: { name: {{ .Values.connection.secretName }}, key: PGBOUNCER_DATABASE_URL }
- name: SCRX_DATABASE_DIRECT_URL
  valueFrom:
    secretKeyRef: { name: {{ .Values.connection.secretName }}, key: DATABASE_URL }
{{- else }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef: { name: {{ .Values.connection.secretName }}, key: DATABASE_URL }
{{- end }}
{{- end -}}
