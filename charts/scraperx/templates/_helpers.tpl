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
