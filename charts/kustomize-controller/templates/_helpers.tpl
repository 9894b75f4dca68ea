{{/* The name of every object: Flux's addresses assume "kustomize-controller". */}}
{{- define "kustomize-controller.fullname" -}}
{{- .Values.fullnameOverride | default "kustomize-controller" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Cluster-scoped objects carry the namespace too, so two releases never collide. */}}
{{- define "kustomize-controller.clusterName" -}}
{{- printf "%s-%s" (include "kustomize-controller.fullname" .) .Release.Namespace | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kustomize-controller.selectorLabels" -}}
app.kubernetes.io/name: kustomize-controller
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kustomize-controller.labels" -}}
{{ include "kustomize-controller.selectorLabels" . }}
app.kubernetes.io/component: kustomize-controller
app.kubernetes.io/part-of: ferry
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "kustomize-controller-%s" .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "kustomize-controller.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "kustomize-controller.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "kustomize-controller.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/*
--events-addr: global.notificationController (set by the umbrella chart) wins over the
chart's own notificationController; enabled with no address, notification-controller in
the release namespace; disabled, empty.
*/}}
{{- define "kustomize-controller.eventsAddr" -}}
{{- $nc := .Values.notificationController -}}
{{- with (.Values.global).notificationController -}}{{- $nc = . -}}{{- end -}}
{{- if $nc.enabled -}}
{{- $nc.address | default (printf "http://notification-controller.%s.svc.cluster.local./" .Release.Namespace) -}}
{{- end -}}
{{- end -}}
