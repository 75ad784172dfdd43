{{/* Labels every object of the release carries. */}}
{{- define "airlock.labels" -}}
app.kubernetes.io/name: airlock
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The Secret that holds the state database URL. */}}
{{- define "airlock.postgresSecret" -}}
{{- if .Values.postgres.existingSecret -}}
{{ .Values.postgres.existingSecret }}
{{- else -}}
{{ .Release.Name }}-postgres
{{- end -}}
{{- end }}

{{/* The kubernetes.io/tls Secret every door serves: the one named, or the one the chart generates. */}}
{{- define "airlock.tlsSecret" -}}
{{- if .Values.tls.existingSecret -}}
{{ .Values.tls.existingSecret }}
{{- else -}}
{{ .Release.Name }}-tls
{{- end -}}
{{- end }}

{{/* The DNS names of the generated certificate, comma-separated: localhost and each door's Service names. */}}
{{- define "airlock.tlsNames" -}}
localhost
{{- range $name, $svc := .Values.services }}
{{- if $svc.ports -}}
,{{ $.Release.Name }}-{{ $name }},{{ $.Release.Name }}-{{ $name }}.{{ $.Release.Namespace }}.svc
{{- end }}
{{- end }}
{{- end }}
