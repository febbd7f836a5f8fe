{{/*
The alert rules (a Prometheus rule file's `groups:`), shared by the
PrometheusRule and k8s/alerts/tracker-rules.yaml (generated from it).
Every expression selects on namespace and role (edge or swarm, set by the
PodMonitor), so several releases can share one Prometheus. What each alert
means and what to do: docs/operations.md, "Alerts".
*/}}
{{- define "tracker.alertGroups" -}}
{{- $r := .Values.metrics.prometheusRule -}}
{{- $edge := printf "namespace=%q, role=\"edge\"" .Release.Namespace -}}
{{- $swarm := printf "namespace=%q, role=\"swarm\"" .Release.Namespace -}}
{{- $runbook := $r.runbookUrl -}}
groups:
  - name: tracker.availability
    rules:
      - alert: TrackerNoSwarms
        expr: max by (namespace) (tracker_slot_table_members{ {{- $edge -}} }) == 0
        for: 1m
        labels:
          severity: critical
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: "Edges see no ready swarm; every announce and scrape fails."
          description: {{ `tracker_slot_table_members is 0 in {{ $labels.namespace }}: no swarm pod is ready, or the edges cannot list the swarm Service's EndpointSlices.` | quote }}
          {{- with $runbook }}
          runbook_url: {{ . }}#trackernoswarms
          {{- end }}
      - alert: TrackerSwarmsMissing
        expr: max by (namespace) (tracker_slot_table_members{ {{- $edge -}} }) < {{ .Values.swarm.replicaCount }}
        for: 5m
        labels:
          severity: warning
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: {{ printf "Fewer ready swarms than swarm.replicaCount (%v)." .Values.swarm.replicaCount | quote }}
          description: {{ `Edges route to {{ $value }} swarms. The missing swarm's slots are served by the others, which do not have its peers until they re-announce.` | quote }}
          {{- with $runbook }}
          runbook_url: {{ . }}#trackerswarmsmissing
          {{- end }}
      - alert: TrackerSlotTablesDisagree
        expr: (max by (namespace) (tracker_slot_table_identity{ {{- $edge -}} }) != min by (namespace) (tracker_slot_table_identity{ {{- $edge -}} })) or (max by (namespace) (tracker_slot_table_identity{ {{- $swarm -}} }) != min by (namespace) (tracker_slot_table_identity{ {{- $swarm -}} })) or (max by (namespace) (tracker_slot_table_identity{ {{- $edge -}} }) != max by (namespace) (tracker_slot_table_identity{ {{- $swarm -}} }))
        for: 5m
        labels:
          severity: warning
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: "Edges and swarms do not agree on who owns which slot."
          description: {{ `tracker_slot_table_identity differs between pods in {{ $labels.namespace }} for 5 minutes: some pod does not see the swarm Service's EndpointSlices as the others do. Requests for the slots in question are answered "moved" and sent again, or fail.` | quote }}
          {{- with $runbook }}
          runbook_url: {{ . }}#trackerslottablesdisagree
          {{- end }}
      - alert: TrackerSwarmDown
        expr: up{ {{- $swarm -}} } == 0
        for: 5m
        labels:
          severity: warning
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: {{ `Swarm {{ $labels.pod }} cannot be scraped.` | quote }}
          description: {{ `Prometheus cannot reach the metrics port of {{ $labels.pod }} for 5 minutes: the pod is down, restarting or overloaded.` | quote }}
          {{- with $runbook }}
          runbook_url: {{ . }}#trackerswarmdown
          {{- end }}
      - alert: TrackerEdgeDown
        expr: up{ {{- $edge -}} } == 0
        for: 5m
        labels:
          severity: warning
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: {{ `Edge {{ $labels.pod }} cannot be scraped.` | quote }}
          description: {{ `Prometheus cannot reach the metrics port of {{ $labels.pod }} for 5 minutes.` | quote }}
          {{- with $runbook }}
          runbook_url: {{ . }}#trackeredgedown
          {{- end }}
      - alert: TrackerSwarmUnreachable
        expr: tracker_swarm_stream_up{ {{- $edge -}} } == 0
        for: 3m
        labels:
          severity: critical
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: {{ `Edge {{ $labels.pod }} has no stream to swarm {{ $labels.swarm }}.` | quote }}
          description: {{ `The swarm is a member (ready in its Service) but the edge cannot open its gRPC stream: requests for its slots fail as unavailable. Check the NetworkPolicy, the swarm's gRPC port and its logs.` | quote }}
          {{- with $runbook }}
          runbook_url: {{ . }}#trackerswarmunreachable
          {{- end }}
      - alert: TrackerStreamFlapping
        expr: changes(tracker_swarm_stream_up{ {{- $edge -}} }[10m]) > {{ $r.streamFlapsPer10m }}
        labels:
          severity: warning
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: {{ `The stream from {{ $labels.pod }} to {{ $labels.swarm }} keeps reconnecting.` | quote }}
          description: {{ `{{ $value }} up/down changes in 10 minutes (seen at scrape resolution, so there may be more): a swarm restarting in a loop, a network problem or a timeout closing streams.` | quote }}
          {{- with $runbook }}
          runbook_url: {{ . }}#trackerstreamflapping
          {{- end }}
  - name: tracker.requests
    rules:
      - alert: TrackerUnavailableRatio
        expr: |
          sum by (namespace) (rate(tracker_requests_total{ {{- $edge -}}, result="unavailable"}[5m]))
            / sum by (namespace) (rate(tracker_requests_total{ {{- $edge -}} }[5m])) > {{ $r.unavailableRatio }}
        for: 5m
        labels:
          severity: critical
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: {{ `{{ $value | humanizePercentage }} of requests fail because no swarm could answer.` | quote }}
          description: {{ `Requests answered "unavailable": their swarm is down, unreachable, or slower than cluster.requestTimeoutMs.` | quote }}
          {{- with $runbook }}
          runbook_url: {{ . }}#trackerunavailableratio
          {{- end }}
      - alert: TrackerErrorRatio
        expr: |
          sum by (namespace) (rate(tracker_requests_total{ {{- $edge -}}, result="error"}[5m]))
            / sum by (namespace) (rate(tracker_requests_total{ {{- $edge -}} }[5m])) > {{ $r.errorRatio }}
        for: 15m
        labels:
          severity: warning
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: {{ `{{ $value | humanizePercentage }} of requests get a protocol error.` | quote }}
          description: "Clients send requests the tracker refuses (bad parameters, torrents over a limit). A sudden rise is often one misbehaving client or an attack; see tracker_requests_total by protocol and action."
          {{- with $runbook }}
          runbook_url: {{ . }}#trackererrorratio
          {{- end }}
      - alert: TrackerSlowReplies
        expr: |
          histogram_quantile(0.99, sum by (namespace, le) (rate(tracker_request_duration_seconds_bucket{ {{- $edge -}} }[5m]))) > {{ $r.latencyP99Seconds }}
        for: 10m
        labels:
          severity: warning
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: {{ `99th percentile reply time is {{ $value | humanizeDuration }}.` | quote }}
          description: "Edges or swarms are saturated; see the dashboard's round trip and event loop panels."
          {{- with $runbook }}
          runbook_url: {{ . }}#trackerslowreplies
          {{- end }}
      - alert: TrackerInternalErrors
        expr: sum by (namespace, pod, component) (increase(tracker_internal_errors_total{namespace={{ .Release.Namespace | quote }}}[10m])) > 0
        labels:
          severity: warning
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: {{ `{{ $labels.pod }}: exceptions caught in {{ $labels.component }}.` | quote }}
          description: {{ `A bug or an unexpected input; the pod's error log has the stack (rate-limited).` | quote }}
          {{- with $runbook }}
          runbook_url: {{ . }}#trackerinternalerrors
          {{- end }}
      - alert: TrackerLimitHit
        expr: sum by (namespace, limit) (rate(tracker_limit_hits_total{namespace={{ .Release.Namespace | quote }}}[5m])) > 0
        for: 15m
        labels:
          severity: info
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: {{ `Limit {{ $labels.limit }} refuses or cuts requests.` | quote }}
          description: {{ `The config key {{ $labels.limit }} is being hit for 15 minutes: raise it if the traffic is legitimate.` | quote }}
          {{- with $runbook }}
          runbook_url: {{ . }}#trackerlimithit
          {{- end }}
  - name: tracker.saturation
    rules:
      - alert: TrackerEdgeSaturated
        expr: max by (namespace, pod) (nodejs_eventloop_lag_p99_seconds{ {{- $edge -}} }) > {{ $r.eventLoopLagSeconds }}
        for: 10m
        labels:
          severity: warning
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: {{ `Edge {{ $labels.pod }} event loop lags {{ $value | humanizeDuration }} (p99).` | quote }}
          description: "The edge has more work than one core does; check that the HPA can add edges (maxReplicas, cluster capacity)."
          {{- with $runbook }}
          runbook_url: {{ . }}#trackeredgesaturated
          {{- end }}
      - alert: TrackerSwarmSaturated
        expr: max by (namespace, pod) (nodejs_eventloop_lag_p99_seconds{ {{- $swarm -}} }) > {{ $r.eventLoopLagSeconds }}
        for: 10m
        labels:
          severity: warning
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: {{ `Swarm {{ $labels.pod }} event loop lags {{ $value | humanizeDuration }} (p99).` | quote }}
          description: "The swarm answers more than one core allows; add swarms (swarm.replicaCount)."
          {{- with $runbook }}
          runbook_url: {{ . }}#trackerswarmsaturated
          {{- end }}
  - name: tracker.accesslist
    rules:
      - alert: TrackerAccessListReloadFailed
        expr: increase(tracker_access_list_reloads_total{ {{- $edge -}}, result="failed"}[15m]) > 0
        labels:
          severity: warning
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: {{ `{{ $labels.pod }} refused a new access list and keeps the previous one.` | quote }}
          description: "The new file has a bad line; the pod's log names the file and the line."
          {{- with $runbook }}
          runbook_url: {{ . }}#trackeraccesslistreloadfailed
          {{- end }}
      - alert: TrackerAccessListDiffers
        expr: max by (namespace) (tracker_access_list_hashes{ {{- $edge -}} }) != min by (namespace) (tracker_access_list_hashes{ {{- $edge -}} })
        for: 10m
        labels:
          severity: warning
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: "Edges enforce access lists of different sizes."
          description: "Some edge did not pick up the last change of the access-list ConfigMap; run `kubectl tracker reload-access-list`."
          {{- with $runbook }}
          runbook_url: {{ . }}#trackeraccesslistdiffers
          {{- end }}
{{- end -}}
