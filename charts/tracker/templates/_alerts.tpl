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
{{- $swarmConfig := include "tracker.roleConfig" (dict "root" . "component" "swarm") | fromYaml -}}
{{- $snapshotInterval := int (dig "snapshot" "intervalSeconds" 30 $swarmConfig) -}}
{{- $restoreDeadline := int (dig "snapshot" "restoreDeadlineSeconds" 10 $swarmConfig) -}}
{{- $expectedSwarms := .Values.swarm.replicaCount -}}
{{- if .Values.swarm.autoscaling.enabled }}{{ $expectedSwarms = .Values.swarm.autoscaling.minReplicas }}{{ end -}}
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
        expr: max by (namespace) (tracker_slot_table_members{ {{- $edge -}} }) < {{ $expectedSwarms }}
        for: 5m
        labels:
          severity: warning
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: {{ printf "Fewer ready swarms than %s (%v)." (ternary "swarm.autoscaling.minReplicas" "swarm.replicaCount" .Values.swarm.autoscaling.enabled) $expectedSwarms | quote }}
          description: {{ `Edges route to {{ $value }} swarms. The missing swarm's slots are served by the others: with its peers if it handed them off when it stopped, from Redis when it restarts with snapshots on, else once they re-announce.` | quote }}
          {{- with $runbook }}
          runbook_url: {{ . }}#trackerswarmsmissing
          {{- end }}
      - alert: TrackerSwarmUnready
        expr: max by (namespace, pod) (tracker_owned_slots{ {{- $swarm -}} }) == 0
        for: 10m
        labels:
          severity: warning
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: {{ `Swarm {{ $labels.pod }} runs but owns no slot.` | quote }}
          description: {{ `{{ $labels.pod }} has owned none of the 65536 slots for 10 minutes: it is not ready (starting, restoring or pulling its slots should take well under a minute), or it does not find itself among the ready pods of the swarm Service's EndpointSlices. It holds no torrents; the other swarms carry its share.` | quote }}
          {{- with $runbook }}
          runbook_url: {{ . }}#trackerswarmunready
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
      - alert: TrackerSlotsUnowned
        expr: sum by (namespace) (tracker_owned_slots{ {{- $swarm -}} }) < 65536
        for: 5m
        labels:
          severity: warning
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: {{ `Only {{ $value }} of 65536 slots have a swarm that owns them.` | quote }}
          description: {{ `The swarms' own slot tables leave some slots to nobody for 5 minutes: a swarm counts a member the others do not see as ready (its EndpointSlice watch is stale), or a swarm that owns slots is not scraped. Requests for those torrents are answered "moved" from swarm to swarm and fail after cluster.maxMovedHops.` | quote }}
          {{- with $runbook }}
          runbook_url: {{ . }}#trackerslotsunowned
          {{- end }}
      - alert: TrackerSlotsOwnedTwice
        expr: sum by (namespace) (tracker_owned_slots{ {{- $swarm -}} }) > 65536
        for: 5m
        labels:
          severity: warning
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: {{ `Swarms claim {{ $value }} slots of 65536: some are owned twice.` | quote }}
          description: {{ `For 5 minutes two swarms have each counted some slots as their own: one of them misses a member the other sees. Edges route each such slot to whichever their own table names, so a torrent's peers can end up split between the two.` | quote }}
          {{- with $runbook }}
          runbook_url: {{ . }}#trackerslotsownedtwice
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
        expr: sum by (namespace, pod, swarm) (increase(tracker_swarm_stream_failures_total{ {{- $edge -}} }[10m])) > {{ $r.streamFlapsPer10m }}
        labels:
          severity: warning
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: {{ `The stream from {{ $labels.pod }} to {{ $labels.swarm }} keeps reconnecting.` | quote }}
          description: {{ `{{ $value | humanize }} streams failed or ended in 10 minutes (tracker_swarm_stream_failures_total; a swarm restart or rolling update ends one): a swarm restarting in a loop, a network problem, or streams refused (edge identity not proven: see the swarm's tracker_edge_streams_rejected_total).` | quote }}
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
        expr: sum by (namespace, pod, component) (increase(tracker_internal_errors_total{namespace={{ .Release.Namespace | quote }}, component!="redis"}[10m])) > 0
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
      - alert: TrackerEdgeConnectionsNearLimit
        expr: max by (namespace, pod) (tracker_tcp_connections{ {{- $edge -}} } / (tracker_tcp_connections_max{ {{- $edge -}} } > 0)) > {{ $r.tcpConnectionsRatio }}
        for: 10m
        labels:
          severity: warning
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: {{ `Edge {{ $labels.pod }} holds {{ $value | humanizePercentage }} of the TCP connections it may.` | quote }}
          description: "Past tracker_tcp_connections_max (http.maxConnections, lowered to fit the file-descriptor limit) new HTTP and WebSocket connections are reset. Add edges (the HPA does not count connections), or raise http.maxConnections and the pods' nofile limit."
          {{- with $runbook }}
          runbook_url: {{ . }}#trackeredgeconnectionsnearlimit
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
  - name: tracker.snapshots
    rules:
      - alert: TrackerSnapshotStale
        expr: max by (namespace, pod) (tracker_snapshot_age_seconds{ {{- $swarm -}} }) > {{ mul $snapshotInterval $r.snapshotStaleIntervals }}
        for: 5m
        labels:
          severity: warning
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: {{ `Swarm {{ $labels.pod }} has not completed a snapshot for {{ $value | humanizeDuration }}.` | quote }}
          description: {{ printf "tracker_snapshot_age_seconds is over %d x snapshot.intervalSeconds (%d s): Redis is down, slow, full or refusing writes. Serving goes on; if this swarm crashes now, a restart restores peers only as of its last complete pass." (int $r.snapshotStaleIntervals) $snapshotInterval | quote }}
          {{- with $runbook }}
          runbook_url: {{ . }}#trackersnapshotstale
          {{- end }}
      - alert: TrackerSnapshotWritesFailing
        expr: sum by (namespace, pod) (rate(tracker_snapshot_failures_total{ {{- $swarm -}}, op="write"}[5m])) > 0
        for: 10m
        labels:
          severity: warning
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: {{ `Swarm {{ $labels.pod }} fails to write slot snapshots to Redis.` | quote }}
          description: {{ `Slot writes have failed for 10 minutes (tracker_snapshot_failures_total{op="write"}): Redis unreachable, slower than snapshot.commandTimeoutMs, out of memory (maxmemory with noeviction) or denying the commands. Failed slots are retried at every pass.` | quote }}
          {{- with $runbook }}
          runbook_url: {{ . }}#trackersnapshotwritesfailing
          {{- end }}
      - alert: TrackerSnapshotRestoreIncomplete
        # The restore runs before a new pod's first scrape, so increase() would see nothing: read the counters in the pod's first hour.
        expr: |
          (
            max by (namespace, pod) (tracker_snapshot_failures_total{ {{- $swarm -}}, op=~"read|corrupt"}) > 0
              or max by (namespace, pod) (tracker_limit_hits_total{ {{- $swarm -}}, limit="snapshot.restoreDeadlineSeconds"}) > 0
          )
            and on (namespace, pod) (time() - max by (namespace, pod) (process_start_time_seconds{ {{- $swarm -}} }) < 3600)
        labels:
          severity: warning
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: {{ `Swarm {{ $labels.pod }} started (within the hour) without part of its snapshot.` | quote }}
          description: {{ printf "At start the swarm could not read some of its slots from Redis (unreachable, unreadable values, or snapshot.restoreDeadlineSeconds, %d s, passed first) and reported ready without them. Their peers come back with their next announce, or from a handoff." $restoreDeadline | quote }}
          {{- with $runbook }}
          runbook_url: {{ . }}#trackersnapshotrestoreincomplete
          {{- end }}
      - alert: TrackerSnapshotRestoreSlow
        expr: |
          max by (namespace, pod) (tracker_snapshot_restore_seconds{ {{- $swarm -}} }) > {{ mulf (float64 $restoreDeadline) $r.restoreSlowRatio }}
            and on (namespace, pod) (time() - max by (namespace, pod) (process_start_time_seconds{ {{- $swarm -}} }) < 3600)
        labels:
          severity: info
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: {{ `Swarm {{ $labels.pod }} took {{ $value | humanizeDuration }} to restore its snapshot.` | quote }}
          description: {{ printf "Over %v of snapshot.restoreDeadlineSeconds (%d s): the pod is not ready while it restores, and a larger snapshot will be cut short. Raise the deadline (and the startup probe's budget), give swarms more CPU, or add swarms so each holds less." $r.restoreSlowRatio $restoreDeadline | quote }}
          {{- with $runbook }}
          runbook_url: {{ . }}#trackersnapshotrestoreslow
          {{- end }}
  - name: tracker.handoff
    rules:
      - alert: TrackerHandoffIncomplete
        # A join ends before a new pod's first scrape may happen: like the restore, read in the pod's first hour.
        expr: |
          sum by (namespace, pod, kind) (increase(tracker_handoffs_total{ {{- $swarm -}}, result="incomplete", kind!="join"}[30m])) > 0
            or (
              sum by (namespace, pod, kind) (tracker_handoffs_total{ {{- $swarm -}}, result="incomplete", kind="join"}) > 0
                and on (namespace, pod) (time() - max by (namespace, pod) (process_start_time_seconds{ {{- $swarm -}} }) < 3600)
            )
        labels:
          severity: warning
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: {{ `A {{ $labels.kind }} handoff of {{ $labels.pod }} did not hand every slot over.` | quote }}
          description: {{ `kind=join: the pod became ready without some of its slots' peers; rebalance: slots it no longer owns stay with it and are retried every 30 s; stop: it exited holding peers (tracker_handoff_unsent_peers_total). tracker_handoff_failures_total says why (unreachable, refused, deadline, no-successor, import); the pod logs each incomplete handoff.` | quote }}
          {{- with $runbook }}
          runbook_url: {{ . }}#trackerhandoffincomplete
          {{- end }}
      - alert: TrackerHandoffPeersUnsent
        expr: sum by (namespace, pod) (increase(tracker_handoff_unsent_peers_total{ {{- $swarm -}} }[30m])) > 0
        labels:
          severity: warning
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: {{ `{{ $labels.pod }} stopped holding {{ $value | humanize }} peers it could not hand off.` | quote }}
          description: {{ `A stopping swarm found no swarm to take some slots within swarm.handoffDeadlineSeconds. With Redis they are in its final snapshot (read by the next pod that owns those slots when it starts); without, they are gone until they re-announce. Seen only if Prometheus scraped the pod before it exited: its log has the count too.` | quote }}
          {{- with $runbook }}
          runbook_url: {{ . }}#trackerhandoffpeersunsent
          {{- end }}
      - alert: TrackerHandoffPending
        expr: max by (namespace, pod) (tracker_handoff_pending_slots{ {{- $swarm -}} }) > 0
        for: 10m
        labels:
          severity: warning
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: {{ `Swarm {{ $labels.pod }} holds {{ $value }} slots that belong to another swarm.` | quote }}
          description: {{ `For 10 minutes it has not managed to push them to their owner (retried every 30 s): the owner is unreachable or refuses the calls (see tracker_handoff_failures_total by reason). Requests for those torrents go to the owner, which lacks these peers until they re-announce.` | quote }}
          {{- with $runbook }}
          runbook_url: {{ . }}#trackerhandoffpending
          {{- end }}
      - alert: TrackerHandoffCallsRefused
        expr: sum by (namespace, pod, reason) (increase(tracker_handoff_calls_rejected_total{ {{- $swarm -}}, reason=~"unauthenticated|permission-denied|invalid"}[15m])) > 0
        labels:
          severity: warning
          {{- with $r.additionalLabels }}{{ toYaml . | nindent 10 }}{{ end }}
        annotations:
          summary: {{ `Swarm {{ $labels.pod }} refuses handoff calls from other swarms ({{ $labels.reason }}).` | quote }}
          description: {{ `Another swarm's identity is not proven (cluster.tls, cluster.authToken differ between swarms) or its calls are malformed (a release mismatch): slots cannot move between these swarms, so their peers are lost when swarms come and go.` | quote }}
          {{- with $runbook }}
          runbook_url: {{ . }}#trackerhandoffcallsrefused
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
