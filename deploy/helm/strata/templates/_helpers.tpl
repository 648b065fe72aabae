{{- define "strata.fullname" -}}
{{- printf "%s-strata" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "strata.labels" -}}
app.kubernetes.io/name: strata
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "strata.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}

{{- define "strata.api" -}}
{{- printf "http://%s-control.%s.svc:%v" (include "strata.fullname" .) .Release.Namespace .Values.control.apiPort -}}
{{- end -}}
