{{/*
plinth-test.value prints the value at a dotted path of a map (list MAP
"a.b.c"): a string as is, a missing value as "", anything else as JSON.
Every map on the way may be missing.
*/}}
{{- define "plinth-test.value" -}}
{{- $v := index . 0 -}}
{{- $found := true -}}
{{- range $k := splitList "." (index . 1) -}}
{{- if and $found (kindIs "map" $v) (hasKey $v $k) -}}
{{- $v = index $v $k -}}
{{- else -}}
{{- $found = false -}}
{{- end -}}
{{- end -}}
{{- if not $found -}}
{{- else if kindIs "string" $v -}}
{{- $v -}}
{{- else if not (kindIs "invalid" $v) -}}
{{- toJson $v -}}
{{- end -}}
{{- end -}}

{{- define "plinth-test.labels" -}}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: {{ .Chart.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
plinth.dev/test-chart: {{ .Chart.Name }}
{{- end -}}

{{/* Upstream: kube-prometheus-stack.fullname (truncated to 26 characters). */}}
{{- define "kube-prometheus-stack.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 26 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 26 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 26 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Upstream: grafana.fullname of the grafana subchart, <release>-grafana. */}}
{{- define "kube-prometheus-stack.grafana.fullname" -}}
{{- $g := .Values.grafana | default dict -}}
{{- if $g.fullnameOverride -}}
{{- $g.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default "grafana" $g.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}
