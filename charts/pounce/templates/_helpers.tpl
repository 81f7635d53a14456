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

{{/*
app.kubernetes.io/version: the image tag (or the chart's appVersion), made a
valid label value: at most 63 characters of [A-Za-z0-9_.-], alphanumeric at
both ends. A tag is up to 128 characters, a label value only 63.
*/}}
{{- define "pounce.versionLabel" -}}
{{- $v := regexReplaceAll "[^-A-Za-z0-9_.]" (.Values.image.tag | default .Chart.AppVersion | toString) "_" | trunc 63 | trimAll "-_." -}}
{{- $v | default (regexReplaceAll "[^-A-Za-z0-9_.]" .Chart.AppVersion "_" | trunc 63 | trimAll "-_.") -}}
{{- end }}

{{/* Labels of every object: the chart's own, then commonLabels (which cannot replace the selector labels). */}}
{{- define "pounce.labels" -}}
{{- $labels := dict
  "helm.sh/chart" (include "pounce.chart" .)
  "app.kubernetes.io/version" (include "pounce.versionLabel" .)
  "app.kubernetes.io/component" "server"
  "app.kubernetes.io/part-of" (include "pounce.name" .)
  "app.kubernetes.io/managed-by" .Release.Service -}}
{{- $labels = merge (include "pounce.selectorLabels" . | fromYaml) $labels (.Values.commonLabels | default dict) -}}
{{- toYaml $labels -}}
{{- end }}

{{/* metadata.annotations of an object: commonAnnotations merged under the object's own ($own wins). */}}
{{- define "pounce.annotations" -}}
{{- $ann := merge (dict) (.own | default dict) (.root.Values.commonAnnotations | default dict) -}}
{{- with $ann -}}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end -}}
{{- end }}

{{- define "pounce.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "pounce.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository:tag, or repository:tag@digest when image.digest pins it (the tag then only documents). */}}
{{- define "pounce.image" -}}
{{- $ref := printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- with .Values.image.digest }}{{ $ref = printf "%s@%s" $ref . }}{{ end -}}
{{- $ref -}}
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
{{- addf (include "pounce.drainDelay" . | float64) .Values.shutdownTimeout .Values.terminationGraceMarginSeconds | ceil | int -}}
{{- end }}

{{/*
Seconds the readiness probe needs, at worst, to fail the pod once health turns
503: failureThreshold consecutive failures, periodSeconds apart.
*/}}
{{- define "pounce.readinessFailureWindow" -}}
{{- $r := .Values.probes.readiness -}}
{{- mulf ($r.periodSeconds | default 10) ($r.failureThreshold | default 3) -}}
{{- end }}

{{/*
drainDelay, derived unless set: the readiness failure window plus
drainPropagationSeconds for the endpoint change to reach kube-proxy, ingress
controllers and cloud load balancers. One source of truth (the probe settings),
so raising the probe period can never leave the drain too short. A drainDelay
set by hand must still be longer than the window.
*/}}
{{- define "pounce.drainDelay" -}}
{{- $window := include "pounce.readinessFailureWindow" . | float64 -}}
{{- if kindIs "invalid" .Values.drainDelay -}}
{{- addf $window .Values.drainPropagationSeconds -}}
{{- else -}}
{{- if le (.Values.drainDelay | float64) $window -}}
{{- fail (printf "drainDelay (%vs) must be longer than the readiness failure window, probes.readiness.periodSeconds x failureThreshold = %vs, or pods still get traffic after their listener closes; leave drainDelay null to derive it" .Values.drainDelay $window) -}}
{{- end -}}
{{- .Values.drainDelay -}}
{{- end -}}
{{- end }}

{{/* Pods the Deployment keeps when nothing is disrupted: minReplicas under an HPA. */}}
{{- define "pounce.minReplicas" -}}
{{- if .Values.autoscaling.enabled }}{{ .Values.autoscaling.minReplicas }}{{ else }}{{ .Values.replicaCount }}{{ end -}}
{{- end }}

{{/* PodDisruptionBudget: podDisruptionBudget.enabled, or (null) on when there is more than one pod. */}}
{{- define "pounce.pdbEnabled" -}}
{{- $e := .Values.podDisruptionBudget.enabled -}}
{{- if kindIs "invalid" $e -}}
{{- if gt (include "pounce.minReplicas" . | int) 1 }}true{{ end -}}
{{- else if $e }}true{{ end -}}
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
