{{/* Names ------------------------------------------------------------------ */}}

{{- define "tracker.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tracker.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Object names; 40 + the longest suffix stays within 63 characters. */}}
{{- define "tracker.edge.fullname" -}}{{ include "tracker.fullname" . }}-edge{{- end -}}
{{- define "tracker.swarm.fullname" -}}{{ include "tracker.fullname" . }}-swarm{{- end -}}
{{- define "tracker.config.name" -}}{{ include "tracker.fullname" . }}-config{{- end -}}
{{- define "tracker.accessList.name" -}}{{ default (printf "%s-access-list" (include "tracker.fullname" .)) .Values.accessList.existingConfigMap }}{{- end -}}
{{- define "tracker.clusterToken.name" -}}{{ default (printf "%s-cluster-token" (include "tracker.fullname" .)) .Values.clusterToken.existingSecret }}{{- end -}}
{{- define "tracker.udpKey.name" -}}{{ default (printf "%s-udp-key" (include "tracker.fullname" .)) .Values.udpConnectionIdKey.existingSecret }}{{- end -}}
{{- define "tracker.edge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}{{ default (include "tracker.edge.fullname" .) .Values.serviceAccount.name }}{{- else -}}{{ default "default" .Values.serviceAccount.name }}{{- end -}}
{{- end -}}

{{/* Labels ----------------------------------------------------------------- */}}

{{- define "tracker.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tracker.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tracker.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "tracker.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tracker
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one role: (dict "root" $ "component" "edge"). */}}
{{- define "tracker.componentSelectorLabels" -}}
{{ include "tracker.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "tracker.componentLabels" -}}
{{ include "tracker.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Image ------------------------------------------------------------------ */}}

{{- define "tracker.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}
{{- end -}}

{{/* Paths inside the pods --------------------------------------------------- */}}

{{- define "tracker.configDir" -}}/etc/tracker/config{{- end -}}
{{- define "tracker.accessListDir" -}}/etc/tracker/access-list{{- end -}}

{{/* The config file of a role: `config` with `<role>.config` merged over it. */}}
{{- define "tracker.roleConfig" -}}
{{- $merged := mergeOverwrite (deepCopy (.root.Values.config | default dict)) (deepCopy ((index .root.Values .component).config | default dict)) -}}
{{- if $merged -}}{{ toYaml $merged }}{{- else -}}{}{{- end -}}
{{- end -}}

{{/* terminationGracePeriodSeconds: given, or long enough for preStop + drain + grace (+ a swarm's handoff and final snapshot write). */}}
{{- define "tracker.terminationGrace" -}}
{{- $role := index .root.Values .component -}}
{{- if $role.terminationGracePeriodSeconds -}}
{{ $role.terminationGracePeriodSeconds }}
{{- else -}}
{{- $snapshot := 0 -}}
{{- if and (eq .component "swarm") (include "tracker.redis.enabled" .root) -}}
{{- $config := include "tracker.roleConfig" . | fromYaml -}}
{{- $snapshot = dig "snapshot" "shutdownDeadlineSeconds" 5 $config -}}
{{- end -}}
{{- $handoff := 0 -}}
{{- if eq .component "swarm" -}}
{{- $handoff = $role.handoffDeadlineSeconds -}}
{{- end -}}
{{ add (default 0 $role.preStopSleepSeconds) $role.drainDelaySeconds $role.graceSeconds $handoff $snapshot 5 }}
{{- end -}}
{{- end -}}

{{/* Autoscaling ---------------------------------------------------------- */}}

{{/*
`replicas` of a role's Deployment or StatefulSet: the values' count without
an autoscaler. With one, the autoscaler owns the field: an installed object's
current count is written back as it is (dropping a field the last release
set would make `helm upgrade` reset it to 1, and for swarms hand every peer
to one pod), and a new object gets none (the autoscaler raises it to
minReplicas; offline renders, e.g. GitOps, leave the field alone).
(dict "root" $ "component" "edge" "kind" "Deployment")
*/}}
{{- define "tracker.replicas" -}}
{{- $role := index .root.Values .component -}}
{{- if not $role.autoscaling.enabled -}}
replicas: {{ $role.replicaCount }}
{{- else -}}
{{- $live := lookup "apps/v1" .kind .root.Release.Namespace (printf "%s-%s" (include "tracker.fullname" .root) .component) -}}
{{- if and $live $live.spec $live.spec.replicas -}}
replicas: {{ $live.spec.replicas }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Where the swarm HPA reads peers per pod; fails when autoscaling is on without a provider (there is no CPU fallback). */}}
{{- define "tracker.swarm.autoscalingProvider" -}}
{{- $as := .Values.swarm.autoscaling -}}
{{- if and $as.enabled (not $as.peersPerPod.provider) -}}
{{- fail "swarm.autoscaling.enabled needs swarm.autoscaling.peersPerPod.provider: prometheus-adapter or keda (swarms scale on peers per pod, read from Prometheus)" -}}
{{- end -}}
{{ $as.peersPerPod.provider }}
{{- end -}}

{{/* Redis for snapshots --------------------------------------------------- */}}

{{/* "true" when swarms snapshot to Redis; fails when more than one source is set. */}}
{{- define "tracker.redis.enabled" -}}
{{- $r := .Values.redis -}}
{{- $sources := 0 -}}
{{- if $r.url }}{{ $sources = add1 $sources }}{{ end -}}
{{- if $r.existingSecret }}{{ $sources = add1 $sources }}{{ end -}}
{{- if $r.bundled.enabled }}{{ $sources = add1 $sources }}{{ end -}}
{{- if gt (int $sources) 1 -}}
{{- fail "redis: set only one of redis.url, redis.existingSecret and redis.bundled.enabled" -}}
{{- end -}}
{{- if gt (int $sources) 0 }}true{{ end -}}
{{- end -}}

{{- define "tracker.redis.fullname" -}}{{ include "tracker.fullname" . }}-redis{{- end -}}

{{/*
Swarm env for snapshots: the Redis URL (from a Secret when it may carry a
password), and the member list that says which slots a swarm snapshots:
the StatefulSet's pod names, as the edges' slot table has them.
*/}}
{{- define "tracker.redis.swarmEnv" -}}
{{- if include "tracker.redis.enabled" . -}}
{{- $r := .Values.redis -}}
- name: TRACKER_SNAPSHOT__REDIS_URL
{{- if $r.existingSecret }}
  valueFrom:
    secretKeyRef:
      name: {{ $r.existingSecret }}
      key: {{ $r.secretKey }}
{{- else if $r.url }}
  valueFrom:
    secretKeyRef:
      name: {{ include "tracker.redis.fullname" . }}
      key: url
{{- else }}
  value: redis://{{ include "tracker.redis.fullname" . }}.{{ .Release.Namespace }}.svc:6379
{{- end }}
{{- end -}}
{{- end -}}

{{/* Default topology spread of a role: zones, then nodes, never blocking scheduling. */}}
{{- define "tracker.topologySpread" -}}
{{- $role := index .root.Values .component -}}
{{- if $role.topologySpreadConstraints -}}
{{ toYaml $role.topologySpreadConstraints }}
{{- else -}}
{{- range $key := list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
- maxSkew: 1
  topologyKey: {{ $key }}
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "tracker.componentSelectorLabels" (dict "root" $.root "component" $.component) | nindent 6 }}
{{- end }}
{{- end -}}
{{- end -}}

{{/*
preStop of the edges: sleep while the pod stays ready. The sleep action
(Kubernetes >= 1.30) needs nothing in the image; older clusters run node.
*/}}
{{- define "tracker.edge.preStop" -}}
{{- $seconds := int .Values.edge.preStopSleepSeconds -}}
{{- if semverCompare ">=1.30-0" .Capabilities.KubeVersion.Version }}
sleep:
  seconds: {{ $seconds }}
{{- else }}
exec:
  command: ["node", "-e", "setTimeout(() => {}, {{ mul $seconds 1000 }})"]
{{- end }}
{{- end -}}

{{/* The info-hash `helm test` announces. */}}
{{- define "tracker.tests.infoHash" -}}
{{- if .Values.tests.infoHash -}}
{{ .Values.tests.infoHash }}
{{- else if and (eq .Values.accessList.mode "allow") .Values.accessList.hashes -}}
{{ first .Values.accessList.hashes }}
{{- end -}}
{{- end -}}

{{/* Probes of both roles: the ops server's /healthz (alive) and /readyz (route traffic here). */}}
{{- define "tracker.probes" -}}
startupProbe:
  httpGet:
    path: /healthz
    port: metrics
  periodSeconds: {{ .Values.probes.startup.periodSeconds }}
  failureThreshold: {{ .Values.probes.startup.failureThreshold }}
livenessProbe:
  httpGet:
    path: /healthz
    port: metrics
  periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.liveness.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
readinessProbe:
  httpGet:
    path: /readyz
    port: metrics
  periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.readiness.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
{{- end -}}

{{/* Environment both roles share: config file, identity, ops port, shutdown timing. */}}
{{- define "tracker.commonEnv" -}}
{{- $role := index .root.Values .component -}}
- name: TRACKER_CONFIG
  value: {{ include "tracker.configDir" .root }}/{{ .component }}.yaml
- name: TRACKER_NODE__NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: TRACKER_METRICS__PORT
  value: {{ .root.Values.ports.metrics | quote }}
- name: TRACKER_SHUTDOWN__DRAIN_DELAY_SECONDS
  value: {{ $role.drainDelaySeconds | quote }}
- name: TRACKER_SHUTDOWN__GRACE_SECONDS
  value: {{ $role.graceSeconds | quote }}
{{- with $role.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* How both roles find the swarms: the swarm Service's EndpointSlices (edges route by them, swarms build the same slot table). */}}
{{- define "tracker.membershipEnv" -}}
- name: TRACKER_CLUSTER__MEMBERSHIP
  value: kubernetes
- name: TRACKER_CLUSTER__KUBERNETES_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: TRACKER_CLUSTER__KUBERNETES_SERVICE
  value: {{ include "tracker.swarm.fullname" . }}
- name: TRACKER_CLUSTER__KUBERNETES_PORT_NAME
  value: grpc
{{- end -}}

{{/*
Edge <-> swarm trust of both roles: the shared token (cluster.authToken)
every edge stream and every handoff call between swarms must prove.
*/}}
{{- define "tracker.clusterTrustEnv" -}}
{{- if .Values.clusterToken.enabled -}}
- name: TRACKER_CLUSTER__AUTH_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "tracker.clusterToken.name" . }}
      key: {{ .Values.clusterToken.secretKey }}
{{- end -}}
{{- end -}}

{{/*
Mutual TLS between edges and swarms (cluster.tls.*), one Secret per role:
a kubernetes.io/tls Secret with tls.crt, tls.key and ca.crt (what a
cert-manager Certificate writes). Swarms' certificates name swarms and
edges' name edges, so an edge (the pod that parses the internet's traffic)
cannot pose as a swarm to edges or to other swarms' handoff service.
Mounted as a directory, never subPath: the tracker watches the files and
takes a renewal without a restart. (dict "root" $ "component" "edge")
*/}}
{{- define "tracker.clusterTlsDir" -}}/etc/tracker/cluster-tls{{- end -}}

{{- define "tracker.clusterTls.secretName" -}}
{{- $secret := (index .root.Values.clusterTls .component).existingSecret -}}
{{- if not $secret -}}
{{- fail (printf "clusterTls.enabled needs clusterTls.%s.existingSecret: a kubernetes.io/tls Secret with tls.crt, tls.key and ca.crt for the %ss (e.g. written by a cert-manager Certificate, docs/operations.md \"Mutual TLS between edges and swarms\")" .component .component) -}}
{{- end -}}
{{ $secret }}
{{- end -}}

{{/* The name each swarm's certificate carries ({name} = its pod name): its DNS name behind the headless Service. */}}
{{- define "tracker.clusterTls.serverName" -}}
{{ default (printf "{name}.%s.%s.svc" (include "tracker.swarm.fullname" .) .Release.Namespace) .Values.clusterTls.serverName }}
{{- end -}}

{{/* The name each edge's certificate carries ({id} = its pod name, the edge id). */}}
{{- define "tracker.clusterTls.edgeName" -}}
{{ default (printf "{id}.%s.%s.svc" (include "tracker.edge.fullname" .) .Release.Namespace) .Values.clusterTls.edgeName }}
{{- end -}}

{{- define "tracker.clusterTls.env" -}}
{{- if .root.Values.clusterTls.enabled -}}
{{- $dir := include "tracker.clusterTlsDir" .root -}}
- name: TRACKER_CLUSTER__TLS__CERT_FILE
  value: {{ $dir }}/tls.crt
- name: TRACKER_CLUSTER__TLS__KEY_FILE
  value: {{ $dir }}/tls.key
- name: TRACKER_CLUSTER__TLS__CA_FILE
  value: {{ $dir }}/ca.crt
# Edges verify swarms by this name, and swarms each other (slot handoff).
- name: TRACKER_CLUSTER__TLS__SERVER_NAME
  value: {{ include "tracker.clusterTls.serverName" .root | quote }}
{{- if eq .component "swarm" }}
- name: TRACKER_CLUSTER__TLS__EDGE_NAME
  value: {{ include "tracker.clusterTls.edgeName" .root | quote }}
{{- end }}
{{- end -}}
{{- end -}}

{{- define "tracker.clusterTls.volumeMount" -}}
{{- if .root.Values.clusterTls.enabled -}}
# A directory, never subPath: the kubelet swaps its ..data link when cert-manager renews the Secret.
- name: cluster-tls
  mountPath: {{ include "tracker.clusterTlsDir" .root }}
  readOnly: true
{{- end -}}
{{- end -}}

{{- define "tracker.clusterTls.volume" -}}
{{- if .root.Values.clusterTls.enabled -}}
- name: cluster-tls
  secret:
    secretName: {{ include "tracker.clusterTls.secretName" . }}
{{- end -}}
{{- end -}}

{{/* Pod-level fields both roles share. */}}
{{- define "tracker.podCommon" -}}
{{- $role := index .root.Values .component -}}
enableServiceLinks: false
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
terminationGracePeriodSeconds: {{ include "tracker.terminationGrace" . }}
{{- with $role.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
topologySpreadConstraints:
  {{- include "tracker.topologySpread" . | trim | nindent 2 }}
{{- with $role.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $role.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $role.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
Checksum of the config ConfigMap's data: a config change rolls the pods (the
access list reloads live and is left out). Data only: a new chart version
alone (its label) must not roll the swarms, each roll being a handoff.
*/}}
{{- define "tracker.configChecksum" -}}
{{ (include (print .Template.BasePath "/configmap.yaml") . | fromYaml).data | toYaml | sha256sum }}
{{- end -}}

{{/*
Private mode's database password (database.passwordFile) from a Secret the
operator creates (databasePassword.existingSecret): mounted as a file on
both roles, never an environment variable, so it shows in no `kubectl
describe` and no process listing. The tracker reads it at start.
*/}}
{{- define "tracker.databasePasswordDir" -}}/etc/tracker/database{{- end -}}

{{- define "tracker.databasePassword.env" -}}
{{- if .Values.databasePassword.existingSecret -}}
- name: TRACKER_DATABASE__PASSWORD_FILE
  value: {{ include "tracker.databasePasswordDir" . }}/{{ .Values.databasePassword.secretKey }}
{{- end -}}
{{- end -}}

{{- define "tracker.databasePassword.volumeMount" -}}
{{- if .Values.databasePassword.existingSecret -}}
- name: database-password
  mountPath: {{ include "tracker.databasePasswordDir" . }}
  readOnly: true
{{- end -}}
{{- end -}}

{{- define "tracker.databasePassword.volume" -}}
{{- if .Values.databasePassword.existingSecret -}}
- name: database-password
  secret:
    secretName: {{ .Values.databasePassword.existingSecret }}
    items:
      - key: {{ .Values.databasePassword.secretKey }}
        path: {{ .Values.databasePassword.secretKey }}
{{- end -}}
{{- end -}}
