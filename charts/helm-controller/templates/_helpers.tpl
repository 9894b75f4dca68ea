{{/* The name of every object: Flux's addresses assume "helm-controller". */}}
{{- define "helm-controller.fullname" -}}
{{- .Values.fullnameOverride | default "helm-controller" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Cluster-scoped objects carry the namespace too, so two releases never collide. */}}
{{- define "helm-controller.clusterName" -}}
{{- printf "%s-%s" (include "helm-controller.fullname" .) .Release.Namespace | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "helm-controller.selectorLabels" -}}
app.kubernetes.io/name: helm-controller
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "helm-controller.labels" -}}
{{ include "helm-controller.selectorLabels" . }}
app.kubernetes.io/component: helm-controller
app.kubernetes.io/part-of: ferry
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "helm-controller-%s" .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "helm-controller.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "helm-controller.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "helm-controller.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/*
--events-addr: global.notificationController (set by the umbrella chart) wins over the
chart's own notificationController; enabled with no address, notification-controller in
the release namespace; disabled, empty.
*/}}
{{- define "helm-controller.eventsAddr" -}}
{{- $nc := .Values.notificationController -}}
{{- with (.Values.global).notificationController -}}{{- $nc = . -}}{{- end -}}
{{- if $nc.enabled -}}
{{- $nc.address | default (printf "http://notification-controller.%s.svc.cluster.local./" .Release.Namespace) -}}
{{- end -}}
{{- end -}}
