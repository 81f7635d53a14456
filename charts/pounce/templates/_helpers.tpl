{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "pounce.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: release-chart, unless the release name already contains it. */}}
{{- define "pounce.fullname" -}}
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

{{- define "pounce.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: stable for the life of a release. Log shippers select on app.kubernetes.io/name. */}}
{{- define "pounce.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pounce.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "pounce.labels" -}}
helm.sh/chart: {{ include "pounce.chart" . }}
{{ include "pounce.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/component: server
app.kubernetes.io/part-of: {{ include "pounce.name" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "pounce.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "pounce.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "pounce.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* Seconds, as the env var string pounce parses (5 -> "5", 2.5 -> "2.5"). */}}
{{- define "pounce.seconds" -}}
{{- . | toString -}}
{{- end }}

{{/*
terminationGracePeriodSeconds = drainDelay + shutdownTimeout + margin, rounded
up: the kubelet's SIGKILL must never land before pounce has drained, finished
in-flight requests and flushed logs and spans.
*/}}
{{- define "pounce.terminationGracePeriodSeconds" -}}
{{- addf .Values.drainDelay .Values.shutdownTimeout .Values.terminationGraceMarginSeconds | ceil | int -}}
{{- end }}

{{- define "pounce.otelServiceName" -}}
{{- .Values.otel.serviceName | default (include "pounce.name" .) -}}
{{- end }}

{{/* OTEL_RESOURCE_ATTRIBUTES; $(VAR) refers to the downward-API env vars declared before it. */}}
{{- define "pounce.otelResourceAttributes" -}}
{{- $attrs := list "k8s.pod.name=$(POD_NAME)" "k8s.namespace.name=$(POD_NAMESPACE)" "k8s.node.name=$(NODE_NAME)" "k8s.pod.uid=$(POD_UID)" (printf "k8s.deployment.name=%s" (include "pounce.fullname" .)) (printf "service.version=%s" (.Values.image.tag | default .Chart.AppVersion)) -}}
{{- range $k, $v := .Values.otel.resourceAttributes -}}
{{- $attrs = append $attrs (printf "%s=%v" $k $v) -}}
{{- end -}}
{{- join "," $attrs -}}
{{- end }}
