{{/*
Names, labels and the values every template shares. The chart renders one crdsync for one virtual cluster into the
release namespace, which is the tenant's host namespace.
*/}}

{{- define "crdsync.name" -}}
{{- .Values.nameOverride | default .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name (Helm's usual rule): the release name when it already contains the chart's name. */}}
{{- define "crdsync.fullname" -}}
{{- $name := include "crdsync.name" . -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "crdsync.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "crdsync.selectorLabels" -}}
app.kubernetes.io/name: {{ include "crdsync.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "crdsync.labels" -}}
helm.sh/chart: {{ include "crdsync.chart" . }}
{{ include "crdsync.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: sync
crdsync.io/vcluster: {{ include "crdsync.vcluster" . }}
{{- end -}}

{{- define "crdsync.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "crdsync.fullname" .) -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The virtual cluster's name: part of every host copy's name and of the Lease crdsync-<name>. */}}
{{- define "crdsync.vcluster" -}}
{{- $name := .Values.vcluster.name | default .Release.Name -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$" $name) -}}
{{- fail (printf "vcluster.name %q (default: the release name) must be a DNS-1123 label" $name) -}}
{{- end -}}
{{- $name -}}
{{- end -}}

{{- define "crdsync.virtualKubeconfigSecret" -}}
{{- .Values.virtualKubeconfig.secretName | default (printf "vc-%s" (include "crdsync.vcluster" .)) -}}
{{- end -}}

{{/*
The mapping text, exactly as given (mappingFile, else mapping, else the default files/mapping.yaml): the ConfigMap
carries it byte for byte, so its SHA-256 is the one `crdsync rbac -o values` computed from the same file.
*/}}
{{- define "crdsync.mapping" -}}
{{- $text := .Values.mappingFile | default .Values.mapping | default (.Files.Get "files/mapping.yaml") -}}
{{- if not $text -}}
{{- fail "no mapping: set mappingFile (--set-file mappingFile=my-mapping.yaml) or mapping" -}}
{{- end -}}
{{- $text -}}
{{- end -}}

{{/*
Refuse RBAC rules generated for another mapping than the one deployed: crdsync would otherwise start and fail each
request the rules miss with 403 at run time.
*/}}
{{- define "crdsync.checkRbac" -}}
{{- $want := .Values.rbac.mappingSha256 -}}
{{- if and .Values.rbac.create $want -}}
{{- $got := include "crdsync.mapping" . | sha256sum -}}
{{- if ne $want $got -}}
{{- fail (printf "rbac.mappingSha256 is %s but the mapping deployed hashes to %s: the rbac rules were generated for another mapping. Run `crdsync rbac --mapping <your mapping> --cluster host -o values > rbac-values.yaml` and install with -f rbac-values.yaml" $want $got) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Where the pod finds its files; tests/test_chart.py and e2e/test_deployed.py read them from the rendered args. */}}
{{- define "crdsync.mappingDir" -}}/etc/crdsync/mapping{{- end -}}
{{- define "crdsync.virtualKubeconfigDir" -}}/etc/crdsync/virtual{{- end -}}
