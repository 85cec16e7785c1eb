{{/*
Names. The release name alone when it already says "playpen", else "<release>-playpen"; a component's
objects are "<fullname>-<component>". Truncated to 40 characters, so that with the longest suffix
("-policy-rollout") names stay within 63 characters (Service names, label values) and the trainer StatefulSet's
within 52 (its pods carry a controller-revision-hash label: the name plus 11 characters).
*/}}
{{- define "playpen.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
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

{{/* Image reference of one service. Call with (dict "ctx" $ "name" "playpen-policy"), optionally "tag". */}}
{{- define "playpen.image" -}}
{{- $image := .ctx.Values.image -}}
{{- $tag := .tag | default $image.tag | default .ctx.Chart.AppVersion -}}
{{- if $image.registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" $image.registry) .name $tag -}}
{{- else -}}
{{- printf "%s:%s" .name $tag -}}
{{- end -}}
{{- end -}}

{{/*
Pod-level settings every service shares. The services never call the Kubernetes API, so no token is
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
  # Volumes are chowned to fsGroup only when their root is not yet: a checkpoint volume holds many files.
  fsGroupChangePolicy: OnRootMismatch
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
Environment every service reads, with its prefix. Call with (dict "ctx" $ "prefix" "PLAYPEN_POLICY_"
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
Seconds the kubelet allows from the start of termination to SIGKILL: the preStop sleep, then the service's drain,
plus 15 s for its shutdown hooks (releasing the engine) and for the signal to arrive, so a drain is never cut
short. Call with (dict "ctx" $ "service" <the service's values>).
*/}}
{{- define "playpen.terminationGracePeriodSeconds" -}}
{{- add (.ctx.Values.preStopSeconds | int) (.service.gracePeriodSeconds | float64 | ceil | int) 15 -}}
{{- end -}}

{{/*
A gRPC container's preStop hook: a short sleep before SIGTERM, while the pod is already out of its Services'
endpoints, so that no call arrives after the drain began. `sleep` is coreutils' in every image (python:3.11-slim).
*/}}
{{- define "playpen.preStop" -}}
lifecycle:
  preStop:
    exec:
      command: [sleep, {{ .Values.preStopSeconds | int | quote }}]
{{- end -}}

{{/* Prometheus annotations for annotation-based scraping. Call with the service's values. */}}
{{- define "playpen.scrapeAnnotations" -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .metricsPort | quote }}
prometheus.io/path: /metrics
{{- end -}}

{{/*
Named container ports: "grpc" and "metrics", and with TLS "health" (plaintext, probes only).
Call with (dict "ctx" $ "service" <the service's values>).
*/}}
{{- define "playpen.containerPorts" -}}
ports:
  - name: grpc
    containerPort: {{ .service.port }}
    protocol: TCP
  - name: metrics
    containerPort: {{ .service.metricsPort }}
    protocol: TCP
  {{- if .ctx.Values.tls.enabled }}
  - name: health
    containerPort: {{ .ctx.Values.tls.healthPort }}
    protocol: TCP
  {{- end }}
  {{- if include "playpen.tokenPort.enabled" .ctx }}
  - name: token
    containerPort: {{ .ctx.Values.tls.tokenPort }}
    protocol: TCP
  {{- end }}
{{- end -}}

{{/*
"true" when every service also serves tls.tokenPort: TLS without client certificates, for external callers who
name themselves with a bearer token from authz.tokenSecret. Call with the root context.
*/}}
{{- define "playpen.tokenPort.enabled" -}}
{{- if and .Values.tls.enabled .Values.authz.enabled .Values.authz.tokenSecret }}true{{ end -}}
{{- end -}}

{{/* The token port of a Service's ports list, when enabled. Call with the root context. */}}
{{- define "playpen.tokenServicePort" -}}
{{- if include "playpen.tokenPort.enabled" . }}
- name: token
  port: {{ .Values.tls.tokenPort }}
  targetPort: token
  protocol: TCP
{{- end }}
{{- end -}}

{{/*
Resources of a model workload: its `resources`, plus `gpus` as nvidia.com/gpu. Extended resources are requested
through limits alone; the request then equals the limit. Call with the component's values.
*/}}
{{- define "playpen.resources" -}}
{{- $resources := deepCopy (.resources | default dict) -}}
{{- if .gpus -}}
{{- $_ := set $resources "limits" (merge (dict "nvidia.com/gpu" (.gpus | int)) ($resources.limits | default dict)) -}}
{{- end -}}
resources:
  {{- toYaml $resources | nindent 2 }}
{{- end -}}

{{/* Node selector and tolerations (GPU node pools) of a component. Call with the component's values. */}}
{{- define "playpen.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
The kubelet's native gRPC health probes of a service that loads something before it serves (a model, a
checkpoint, the game list): health is NOT_SERVING until then, so the startup probe allows `maxStartupSeconds`;
readiness then means "can serve now", and liveness only asks the pod's own health service (the event loop
answers), never another service. With TLS they ask the plaintext health port, which reports the same status.
Call with (dict "ctx" $ "service" <the component's values>).
*/}}
{{- define "playpen.grpcProbes" -}}
{{- $port := include "playpen.probePort" . }}
startupProbe:
  grpc: {port: {{ $port }}}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: {{ max 1 (div (add (.service.maxStartupSeconds | int) 9) 10) }}
readinessProbe:
  grpc: {port: {{ $port }}}
  periodSeconds: 5
  timeoutSeconds: 5
  failureThreshold: 2
livenessProbe:
  grpc: {port: {{ $port }}}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 6
{{- end -}}

{{/* In-cluster gRPC address of a component's Service. Call with (dict "ctx" $ "component" "trainer" "port" 50053). */}}
{{- define "playpen.address" -}}
{{- printf "%s.%s.svc:%d" (include "playpen.componentName" .) .ctx.Release.Namespace (.port | int) -}}
{{- end -}}

{{/*
Which parts of the closed loop are rendered ("true" or empty). `closedLoop.enabled` switches the loop on; each
component's `enabled` can then leave one out.
*/}}
{{- define "playpen.trainer.enabled" -}}
{{- if and .Values.closedLoop.enabled .Values.trainer.enabled }}true{{ end -}}
{{- end -}}
{{- define "playpen.evaluator.enabled" -}}
{{- if and .Values.closedLoop.enabled .Values.evaluator.enabled }}true{{ end -}}
{{- end -}}
{{- define "playpen.rollout.enabled" -}}
{{- if and .Values.closedLoop.enabled .Values.policy.rollout.enabled }}true{{ end -}}
{{- end -}}
{{- define "playpen.selfplay.enabled" -}}
{{- if and .Values.closedLoop.enabled .Values.selfplay.enabled }}true{{ end -}}
{{- end -}}
{{/* Something reads or writes checkpoints: the trainer writes them, the evaluator's eval policy loads them. */}}
{{- define "playpen.checkpoints.enabled" -}}
{{- if or (include "playpen.trainer.enabled" .) (include "playpen.evaluator.enabled" .) }}true{{ end -}}
{{- end -}}

{{/* Combinations that would deploy pods that can never work: refused at install time, not as a crash loop. */}}
{{- define "playpen.checkValues" -}}
{{- if and (include "playpen.rollout.enabled" .) (not (include "playpen.trainer.enabled" .)) -}}
{{- fail "policy.rollout follows the trainer: enable trainer, or disable policy.rollout" -}}
{{- end -}}
{{- if and (include "playpen.selfplay.enabled" .) (not (include "playpen.rollout.enabled" .)) -}}
{{- fail "selfplay plays with the rollout policy and feeds the trainer: enable trainer and policy.rollout, or disable selfplay" -}}
{{- end -}}
{{- if and .Values.trainer.lora .Values.trainer.initFrom -}}
{{- fail "trainer.initFrom is for full fine-tuning; with trainer.lora, serve the warm-start model as model.path" -}}
{{- end -}}
{{- if and (include "playpen.evaluator.enabled" .) .Values.evaluator.pinVersions (not (and .Values.trainer.lora (include "playpen.rollout.enabled" .))) -}}
{{- fail "evaluator.pinVersions evaluates on the rollout replicas over LoRA adapters: enable trainer.lora and policy.rollout, or disable evaluator.pinVersions" -}}
{{- end -}}
{{- if not (has .Values.model.source (list "image" "pvc" "hub")) -}}
{{- fail (printf "model.source must be image, pvc or hub, not %q" .Values.model.source) -}}
{{- end -}}
{{- if and (eq .Values.model.source "pvc") (not .Values.model.existingClaim) -}}
{{- fail "model.source=pvc needs model.existingClaim: the claim that holds model.path" -}}
{{- end -}}
{{- if not (hasPrefix "/models/" .Values.model.path) -}}
{{- fail (printf "model.path must be a directory under /models/, not %q" .Values.model.path) -}}
{{- end -}}
{{- if and .Values.tls.enabled (not .Values.tls.certManager.enabled) -}}
{{- range $name := (include "playpen.tls.components" . | fromJson).components -}}
{{- if not (include "playpen.tls.secretName" (dict "ctx" $ "component" $name)) -}}
{{- fail (printf "tls: %s needs a certificate: enable tls.certManager, or name its Secret in tls.existingSecrets.%s or tls.existingSecret" $name $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and .Values.authz.tokenSecret (not .Values.tls.enabled) -}}
{{- fail "authz.tokenSecret: bearer tokens are only checked with tls.enabled (never sent over plaintext)" -}}
{{- end -}}
{{- range $role := (include "playpen.policyRoles" . | fromJson).roles -}}
{{- $policy := $role.values -}}
{{- if and (eq $policy.backend "vllm") $policy.gpus (gt (int $policy.tensorParallelSize) (int $policy.gpus)) -}}
{{- fail (printf "policy %s: tensorParallelSize %d needs as many GPUs per pod, it has gpus=%d" $role.role (int $policy.tensorParallelSize) (int $policy.gpus)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Where committed checkpoints live. The trainer writes them under <dataDir>/checkpoints and announces their
absolute paths, so every reader mounts the shared volume at that same path.
*/}}
{{- define "playpen.checkpointsPath" -}}
{{- printf "%s/checkpoints" (trimSuffix "/" .Values.trainer.dataDir) -}}
{{- end -}}

{{- define "playpen.checkpointsClaim" -}}
{{- .Values.checkpoints.existingClaim | default (include "playpen.componentName" (dict "ctx" . "component" "checkpoints")) -}}
{{- end -}}

{{/*
Volumes of a model workload: the base model (read-only; only when `model` is true: the trainer and vllm policies)
and the shared checkpoints, read-only unless `writable`. playpen.modelMounts (the container's volumeMounts),
playpen.modelVolumes (the pod's volumes) and playpen.modelInit (its init container) go together; call each with
(dict "ctx" $ "writable" false "model" true "image" <the container's image>).
*/}}
{{- define "playpen.modelMounts" -}}
{{- if .model }}
- name: model
  mountPath: /models
  readOnly: true
{{- end }}
{{- if include "playpen.checkpoints.enabled" .ctx }}
- name: checkpoints
  mountPath: {{ include "playpen.checkpointsPath" .ctx }}
  {{- if not .writable }}
  readOnly: true
  {{- end }}
{{- end }}
{{- end -}}

{{- define "playpen.modelVolumes" -}}
{{- $model := .ctx.Values.model }}
{{- if and .model (eq $model.source "pvc") }}
- name: model
  persistentVolumeClaim:
    claimName: {{ $model.existingClaim }}
    readOnly: true
{{- else if .model }}
- name: model
  emptyDir:
    sizeLimit: {{ $model.volumeSizeLimit }}
{{- end }}
{{- if include "playpen.checkpoints.enabled" .ctx }}
- name: checkpoints
  persistentVolumeClaim:
    claimName: {{ include "playpen.checkpointsClaim" .ctx }}
    {{- if not .writable }}
    readOnly: true
    {{- end }}
{{- end }}
{{- end -}}

{{/*
The init container that puts the model at model.path before the pod's container starts: copied out of the model
image (source=image) or downloaded with the pod's own image (source=hub). Nothing for source=pvc.
*/}}
{{- define "playpen.modelInit" -}}
{{- $model := .ctx.Values.model }}
{{- if and .model (ne $model.source "pvc") }}
initContainers:
  - name: model
    {{- if eq $model.source "image" }}
    image: {{ include "playpen.image" (dict "ctx" .ctx "name" $model.image.name "tag" $model.image.tag) }}
    args: [{{ $model.path | quote }}]
    {{- else }}
    image: {{ .image }}
    command: [playpen-fetch-model]
    args:
      - {{ printf "--id=%s" $model.hub.id | quote }}
      - {{ printf "--revision=%s" $model.hub.revision | quote }}
      - {{ printf "--out=%s" $model.path | quote }}
    env:
      - name: HF_HOME
        value: /tmp/huggingface
      {{- with $model.hub.endpoint }}
      - name: HF_ENDPOINT
        value: {{ . | quote }}
      {{- end }}
      {{- with $model.hub.tokenSecret }}
      - name: HF_TOKEN
        valueFrom:
          secretKeyRef:
            name: {{ . }}
            key: HF_TOKEN
      {{- end }}
    {{- end }}
    imagePullPolicy: {{ .ctx.Values.image.pullPolicy }}
    resources:
      requests: {cpu: 100m, memory: 128Mi}
      limits: {memory: 1Gi}
    {{- include "playpen.containerSecurity" .ctx | nindent 4 }}
    volumeMounts:
      - name: model
        mountPath: /models
      - name: tmp
        mountPath: /tmp
{{- end }}
{{- end -}}

{{/*
The policy's roles, as JSON {"roles": [...]}: each with its component name, its values (policy.* with the
role's own keys replacing them) and the flag that makes it follow a checkpoint source.
  serving  (component "policy", policy.replicas): what other systems call. In the closed loop it follows the
           evaluator's promotions (eval-gated); otherwise it serves the base model.
  rollout  (policy.rollout): self-play's policy; follows every checkpoint the trainer commits.
  eval     (policy.eval, one pod): only the evaluator drives it (LoadWeights per evaluation); follows nothing.
*/}}
{{- define "playpen.policyRoles" -}}
{{- $base := omit .Values.policy "rollout" "eval" -}}
{{- $serving := dict "role" "serving" "component" "policy" "values" (deepCopy $base) "follow" "" -}}
{{- if include "playpen.evaluator.enabled" . -}}
{{- $_ := set $serving "follow" (printf "--follow-evaluator=%s" (include "playpen.address" (dict "ctx" . "component" "evaluator" "port" .Values.evaluator.port))) -}}
{{- end -}}
{{- $roles := list $serving -}}
{{- if include "playpen.rollout.enabled" . -}}
{{- $values := deepCopy $base -}}
{{- range $key, $value := omit .Values.policy.rollout "enabled" }}{{ $_ := set $values $key $value }}{{ end -}}
{{- $follow := printf "--follow-trainer=%s" (include "playpen.address" (dict "ctx" . "component" "trainer" "port" .Values.trainer.port)) -}}
{{- $roles = append $roles (dict "role" "rollout" "component" "policy-rollout" "values" $values "follow" $follow) -}}
{{- end -}}
{{- if and (include "playpen.evaluator.enabled" .) (not .Values.evaluator.pinVersions) -}}
{{- $values := deepCopy $base -}}
{{- range $key, $value := .Values.policy.eval }}{{ $_ := set $values $key $value }}{{ end -}}
{{- /* One pod: LoadWeights through a Service of several would load one replica and evaluate on another. */ -}}
{{- $_ := set $values "replicas" 1 -}}
{{- $roles = append $roles (dict "role" "eval" "component" "policy-eval" "values" $values "follow" "") -}}
{{- end -}}
{{- toJson (dict "roles" $roles) -}}
{{- end -}}

{{/*
The game master's allowed_policies (JSON list of host:port globs): each policy Service of this release as a
short name, with its namespace, and fully qualified in any cluster domain; then gamemaster.allowedPolicies.
*/}}
{{- define "playpen.allowedPolicies" -}}
{{- $patterns := list }}
{{- range $role := (include "playpen.policyRoles" . | fromJson).roles }}
{{- $name := include "playpen.componentName" (dict "ctx" $ "component" $role.component) }}
{{- $port := $role.values.port | int }}
{{- $ns := $.Release.Namespace }}
{{- $patterns = concat $patterns (list (printf "%s:%d" $name $port) (printf "%s.%s:%d" $name $ns $port) (printf "%s.%s.svc:%d" $name $ns $port) (printf "%s.%s.svc.*:%d" $name $ns $port)) }}
{{- end }}
{{- concat $patterns .Values.gamemaster.allowedPolicies | toJson }}
{{- end -}}

{{/*
TLS (tls.enabled). Every component that speaks gRPC has a certificate: its Secret (tls.crt, tls.key, ca.crt) is
mounted read-only at /etc/playpen/tls. The components, as JSON {"components": [...]}: those rendered, plus "test"
for `helm test`.
*/}}
{{- define "playpen.tls.components" -}}
{{- $components := list "gamemaster" -}}
{{- range $role := (include "playpen.policyRoles" . | fromJson).roles }}{{ $components = append $components $role.component }}{{ end -}}
{{- if include "playpen.trainer.enabled" . }}{{ $components = append $components "trainer" }}{{ end -}}
{{- if include "playpen.evaluator.enabled" . }}{{ $components = append $components "evaluator" }}{{ end -}}
{{- if include "playpen.selfplay.enabled" . }}{{ $components = append $components "selfplay" }}{{ end -}}
{{- toJson (dict "components" (append $components "test")) -}}
{{- end -}}

{{/* The Secret holding a component's certificate. Call with (dict "ctx" $ "component" "policy-eval"). */}}
{{- define "playpen.tls.secretName" -}}
{{- $tls := .ctx.Values.tls -}}
{{- if $tls.certManager.enabled -}}
{{- printf "%s-tls" (include "playpen.componentName" .) -}}
{{- else -}}
{{- index $tls.existingSecrets .component | default $tls.existingSecret -}}
{{- end -}}
{{- end -}}

{{/* The issuer of the components' certificates: tls.certManager.issuerRef, or the release's own CA. */}}
{{- define "playpen.tls.issuerRef" -}}
{{- $issuer := .Values.tls.certManager.issuerRef -}}
{{- if $issuer.name -}}
{{- toJson (dict "name" $issuer.name "kind" ($issuer.kind | default "Issuer") "group" ($issuer.group | default "cert-manager.io")) -}}
{{- else -}}
{{- toJson (dict "name" (printf "%s-ca" (include "playpen.fullname" .)) "kind" "Issuer" "group" "cert-manager.io") -}}
{{- end -}}
{{- end -}}

{{/*
The rules of a component's authz (JSON list): authz.rules.<component> first, then the chart's own, which let the
component that does it in the closed loop (and authz.callers) call the state-changing methods.
Call with (dict "ctx" $ "component" "policy-eval").
*/}}
{{- define "playpen.authz.rules" -}}
{{- $ctx := .ctx -}}
{{- $callers := $ctx.Values.authz.callers | default list -}}
{{- $evaluator := include "playpen.componentName" (dict "ctx" $ctx "component" "evaluator") -}}
{{- $selfplay := include "playpen.componentName" (dict "ctx" $ctx "component" "selfplay") -}}
{{- $load := "playpen.policy.v1.PolicyService/LoadWeights=%s" -}}
{{- $own := dict
  "policy" (list (printf $load (join "," $callers)))
  "policy-rollout" (list (printf $load (join "," $callers)))
  "policy-eval" (list (printf $load (join "," (prepend $callers $evaluator))))
  "trainer" (list (printf "playpen.trainer.v1.TrainerService/SubmitEpisodes=%s" (join "," (prepend $callers $selfplay))))
  "evaluator" (list (printf "playpen.evaluator.v1.EvaluatorService/EvaluateCheckpoint=%s" (join "," $callers)) (printf "playpen.evaluator.v1.EvaluatorService/Rollback=%s" (join "," $callers)))
-}}
{{- $rules := concat (index $ctx.Values.authz.rules .component | default list) (index $own .component | default list) -}}
{{- if $rules }}{{ toJson $rules }}{{ else }}[]{{ end -}}
{{- end -}}

{{/*
Environment of TLS and authz. Call with (dict "ctx" $ "component" "policy" "prefix" "PLAYPEN_POLICY_" "server" true):
a server also requires client certificates, serves the plaintext health port and applies authz.
*/}}
{{- define "playpen.tls.env" -}}
{{- $values := .ctx.Values -}}
{{- if $values.tls.enabled }}
- name: {{ .prefix }}TLS_CA_FILE
  value: /etc/playpen/tls/ca.crt
- name: {{ .prefix }}TLS_CERT_FILE
  value: /etc/playpen/tls/tls.crt
- name: {{ .prefix }}TLS_KEY_FILE
  value: /etc/playpen/tls/tls.key
{{- if .server }}
- name: {{ .prefix }}TLS_CLIENT_CA_FILE
  value: /etc/playpen/tls/ca.crt
- name: {{ .prefix }}HEALTH_PORT
  value: {{ $values.tls.healthPort | quote }}
{{- if $values.authz.enabled }}
- name: {{ .prefix }}AUTHZ_ENABLED
  value: "true"
- name: {{ .prefix }}AUTHZ
  value: {{ include "playpen.authz.rules" . | quote }}
{{- if $values.authz.tokenSecret }}
- name: {{ .prefix }}AUTHZ_TOKEN_FILE
  value: /etc/playpen/authz/tokens
- name: {{ .prefix }}TOKEN_PORT
  value: {{ $values.tls.tokenPort | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* volumeMounts and volumes of TLS and authz; call each with (dict "ctx" $ "component" "policy" "server" true). */}}
{{- define "playpen.tls.mounts" -}}
{{- if .ctx.Values.tls.enabled }}
- name: tls
  mountPath: /etc/playpen/tls
  readOnly: true
{{- if and .server .ctx.Values.authz.enabled .ctx.Values.authz.tokenSecret }}
- name: authz-tokens
  mountPath: /etc/playpen/authz
  readOnly: true
{{- end }}
{{- end }}
{{- end -}}

{{- define "playpen.tls.volumes" -}}
{{- if .ctx.Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ include "playpen.tls.secretName" . }}
    defaultMode: 0440
{{- if and .server .ctx.Values.authz.enabled .ctx.Values.authz.tokenSecret }}
- name: authz-tokens
  secret:
    secretName: {{ .ctx.Values.authz.tokenSecret }}
    items: [{key: tokens, path: tokens}]
    defaultMode: 0440
{{- end }}
{{- end }}
{{- end -}}

{{/* The port the kubelet probes: the plaintext health port with TLS, else the gRPC port. Call with (dict "ctx" $ "service" <values>). */}}
{{- define "playpen.probePort" -}}
{{- if .ctx.Values.tls.enabled }}{{ .ctx.Values.tls.healthPort }}{{ else }}{{ .service.port }}{{ end -}}
{{- end -}}

{{/*
The components this release renders, as JSON {"components": [...]}: each with its component name, its values key
(networkPolicy.clients / extraEgress), its gRPC and metrics ports (0: none) and whether its pods read the model
(an init container may download it).
*/}}
{{- define "playpen.components" -}}
{{- $list := list (dict "component" "gamemaster" "key" "gamemaster" "port" (.Values.gamemaster.port | int) "metricsPort" (.Values.gamemaster.metricsPort | int) "model" false) -}}
{{- range $role := (include "playpen.policyRoles" . | fromJson).roles -}}
{{- $list = append $list (dict "component" $role.component "key" "policy" "port" ($role.values.port | int) "metricsPort" ($role.values.metricsPort | int) "model" (eq $role.values.backend "vllm")) -}}
{{- end -}}
{{- if include "playpen.trainer.enabled" . -}}
{{- $list = append $list (dict "component" "trainer" "key" "trainer" "port" (.Values.trainer.port | int) "metricsPort" (.Values.trainer.metricsPort | int) "model" true) -}}
{{- end -}}
{{- if include "playpen.evaluator.enabled" . -}}
{{- $list = append $list (dict "component" "evaluator" "key" "evaluator" "port" (.Values.evaluator.port | int) "metricsPort" (.Values.evaluator.metricsPort | int) "model" false) -}}
{{- end -}}
{{- if include "playpen.selfplay.enabled" . -}}
{{- $list = append $list (dict "component" "selfplay" "key" "selfplay" "port" 0 "metricsPort" (.Values.selfplay.metricsPort | int) "model" false) -}}
{{- end -}}
{{- $list = append $list (dict "component" "test" "key" "" "port" 0 "metricsPort" 0 "model" false) -}}
{{- toJson (dict "components" $list) -}}
{{- end -}}

{{/*
Who calls whom, as JSON {"paths": [{"from", "to", "port"}]} (port 0: every port): exactly the addresses the
templates give each component, and the policies the game master is allowed to dial.
  game master     -> every policy role (the players of PlayEpisodes requests)
  self-play       -> game master, trainer (SubmitEpisodes), rollout policy (its status)
  evaluator       -> game master, eval policy (rollout policy with evaluator.pinVersions), trainer (its checkpoints)
  serving policy  -> evaluator (follows its promotions); rollout policy -> trainer (follows its checkpoints)
  trainer pods    -> each other, every port (torch.distributed rendezvous and NCCL/gloo), nodes > 1 only
  helm test pod   -> game master
*/}}
{{- define "playpen.paths" -}}
{{- $gm := .Values.gamemaster.port | int -}}
{{- $trainer := .Values.trainer.port | int -}}
{{- $paths := list (dict "from" "test" "to" "gamemaster" "port" $gm) -}}
{{- $ports := dict -}}
{{- range $role := (include "playpen.policyRoles" . | fromJson).roles -}}
{{- $_ := set $ports $role.component ($role.values.port | int) -}}
{{- $paths = append $paths (dict "from" "gamemaster" "to" $role.component "port" ($role.values.port | int)) -}}
{{- end -}}
{{- if include "playpen.evaluator.enabled" . -}}
{{- $paths = append $paths (dict "from" "policy" "to" "evaluator" "port" (.Values.evaluator.port | int)) -}}
{{- $paths = append $paths (dict "from" "evaluator" "to" "gamemaster" "port" $gm) -}}
{{- /* evaluator.pinVersions: it evaluates on the rollout replicas (pinned Generate calls), there is no eval policy. */ -}}
{{- $evalPolicy := .Values.evaluator.pinVersions | ternary "policy-rollout" "policy-eval" -}}
{{- $paths = append $paths (dict "from" "evaluator" "to" $evalPolicy "port" (get $ports $evalPolicy)) -}}
{{- if include "playpen.trainer.enabled" . -}}
{{- $paths = append $paths (dict "from" "evaluator" "to" "trainer" "port" $trainer) -}}
{{- end -}}
{{- end -}}
{{- if include "playpen.rollout.enabled" . -}}
{{- $paths = append $paths (dict "from" "policy-rollout" "to" "trainer" "port" $trainer) -}}
{{- end -}}
{{- if include "playpen.selfplay.enabled" . -}}
{{- $paths = append $paths (dict "from" "selfplay" "to" "gamemaster" "port" $gm) -}}
{{- $paths = append $paths (dict "from" "selfplay" "to" "trainer" "port" $trainer) -}}
{{- $paths = append $paths (dict "from" "selfplay" "to" "policy-rollout" "port" (get $ports "policy-rollout")) -}}
{{- end -}}
{{- if and (include "playpen.trainer.enabled" .) (gt (.Values.trainer.distributed.nodes | int) 1) -}}
{{- $paths = append $paths (dict "from" "trainer" "to" "trainer" "port" 0) -}}
{{- end -}}
{{- toJson (dict "paths" $paths) -}}
{{- end -}}
