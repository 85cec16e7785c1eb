{{/*
Names. The release name alone when it already says "playpen", else "<release>-playpen"; a component's
objects are "<fullname>-<component>". Truncated so the component suffix always fits into 63 characters.
*/}}
{{- define "playpen.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Name of a component's objects. Call with (dict "ctx" $ "component" "policy"). */}}
{{- define "playpen.componentName" -}}
{{- printf "%s-%s" (include "playpen.fullname" .ctx) .component -}}
{{- end -}}

{{/* Labels that select a component's pods; never change them on upgrade (selectors are immutable). */}}
{{- define "playpen.selectorLabels" -}}
app.kubernetes.io/name: {{ .ctx.Chart.Name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Kubernetes' recommended labels, on every object. Call with (dict "ctx" $ "component" "policy"). */}}
{{- define "playpen.labels" -}}
{{ include "playpen.selectorLabels" . }}
app.kubernetes.io/part-of: playpen
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Image reference of one service. Call with (dict "ctx" $ "name" "playpen-policy"). */}}
{{- define "playpen.image" -}}
{{- $image := .ctx.Values.image -}}
{{- $tag := $image.tag | default .ctx.Chart.AppVersion -}}
{{- if $image.registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" $image.registry) .name $tag -}}
{{- else -}}
{{- printf "%s:%s" .name $tag -}}
{{- end -}}
{{- end -}}

{{/*
Pod-level settings both services share. The services never call the Kubernetes API, so no token is
mounted, and service links are off: Kubernetes would otherwise inject PLAYPEN_POLICY_PORT=tcp://… for a
Service named "playpen-policy", colliding with the services' own settings prefix.
*/}}
{{- define "playpen.podSpecCommon" -}}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  fsGroup: 10001
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{/* Container-level hardening; /tmp is the only writable path (an emptyDir named "tmp"). */}}
{{- define "playpen.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: [ALL]
{{- end -}}

{{/*
Environment both services read, with their prefix. Call with (dict "ctx" $ "prefix" "PLAYPEN_POLICY_"
"service" .Values.policy).
*/}}
{{- define "playpen.commonEnv" -}}
- name: {{ .prefix }}PORT
  value: {{ .service.port | quote }}
- name: {{ .prefix }}METRICS_PORT
  value: {{ .service.metricsPort | quote }}
- name: {{ .prefix }}GRACE_PERIOD_S
  value: {{ .service.gracePeriodSeconds | quote }}
- name: {{ .prefix }}MAX_MESSAGE_BYTES
  value: {{ .service.maxMessageBytes | int64 | quote }}
- name: {{ .prefix }}LOG_LEVEL
  value: {{ .ctx.Values.log.level | quote }}
- name: {{ .prefix }}LOG_FORMAT
  value: {{ .ctx.Values.log.format | quote }}
{{- with .service.env }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Seconds the kubelet waits after SIGTERM before SIGKILL: the service's drain plus 15 s for its shutdown hooks
(releasing the engine) and for the signal to arrive, so a drain is never cut short.
*/}}
{{- define "playpen.terminationGracePeriodSeconds" -}}
{{- add (.gracePeriodSeconds | float64 | ceil | int) 15 -}}
{{- end -}}

{{/* Prometheus annotations for annotation-based scraping. Call with the service's values. */}}
{{- define "playpen.scrapeAnnotations" -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .metricsPort | quote }}
prometheus.io/path: /metrics
{{- end -}}

{{/* Named container ports: "grpc" and "metrics". Call with the service's values. */}}
{{- define "playpen.containerPorts" -}}
ports:
  - name: grpc
    containerPort: {{ .port }}
    protocol: TCP
  - name: metrics
    containerPort: {{ .metricsPort }}
    protocol: TCP
{{- end -}}
