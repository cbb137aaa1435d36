{{/* Names. */}}
{{- define "cloudron-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cloudron-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "cloudron-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cloudron-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "cloudron-operator.peeringName" -}}
{{- default (include "cloudron-operator.fullname" .) .Values.peering.name -}}
{{- end -}}

{{- define "cloudron-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cloudron-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "cloudron-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "cloudron-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/*
RBAC rules, one set per scope. Each rule says why the operator needs it; nothing uses `*`, and no
rule grants escalate, bind or impersonate. The verbs follow what the operator sends: server-side
apply is a PATCH that creates a missing object (so also `create`), children are listed by label,
pruned with DELETE, and kopf watches and patches (finalizer, progress annotations) what it serves;
nothing is replaced with PUT, so no rule grants `update`.
*/}}

{{/* Namespaced: what the operator does in a namespace whose CloudronApps it serves. */}}
{{- define "cloudron-operator.appNamespaceRules" -}}
# kopf and the operator's store watch the apps; kopf patches their finalizer and progress annotations.
- apiGroups: [cloudron.io]
  resources: [cloudronapps]
  verbs: [get, list, watch, patch]
# The operator writes only status (server-side apply on the status subresource).
- apiGroups: [cloudron.io]
  resources: [cloudronapps/status]
  verbs: [get, patch]
# The app's children (the store lists and watches each kind): Services, the data PVC, the addon Secrets.
- apiGroups: [""]
  resources: [services, persistentvolumeclaims, secrets]
  verbs: [get, list, watch, create, patch, delete]
# The app's workload, and the per-app servers of addons such as Redis.
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, delete]
# The scheduler addon's tasks; backup and restore Jobs, whose pods say how a Job ended.
- apiGroups: [batch]
  resources: [cronjobs, jobs]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list]
# Backups: made by hand, by an app's schedule or by an import; kopf's finalizer deletes the stored data.
- apiGroups: [cloudron.io]
  resources: [cloudronbackups]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [cloudron.io]
  resources: [cloudronbackups/status]
  verbs: [get, patch]
# The app's Ingresses and its NetworkPolicy.
- apiGroups: [networking.k8s.io]
  resources: [ingresses, networkpolicies]
  verbs: [get, list, watch, create, patch, delete]
# The app's TLS certificate, issued by cert-manager.
- apiGroups: [cert-manager.io]
  resources: [certificates]
  verbs: [get, list, watch, create, patch, delete]
{{- if eq .Values.routing "gateway" }}
# routing: gateway: the app's HTTPRoutes and its listeners (a ListenerSet, or a Gateway of its own).
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes, {{ ternary "gateways" "listenersets" (eq .Values.gateway.listeners "Gateway") }}]
  verbs: [get, list, watch, create, patch, delete]
{{- end }}
# Events on the apps: what was created, and why an app is not Ready.
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
{{- end -}}

{{/* Cluster-scoped: needed whatever namespaces are served. */}}
{{- define "cloudron-operator.clusterRules" -}}
# Addons are cluster-scoped: kopf watches them, patches its finalizer; the operator reads them.
- apiGroups: [cloudron.io]
  resources: [addons]
  verbs: [get, list, watch, patch]
# The operator reports whether it can log in to each Addon's server.
- apiGroups: [cloudron.io]
  resources: [addons/status]
  verbs: [patch]
# The central directory is made from the CloudronUsers (cluster-scoped); each one's status says
# whether it is in the directory.
- apiGroups: [cloudron.io]
  resources: [cloudronusers]
  verbs: [get, list, watch]
- apiGroups: [cloudron.io]
  resources: [cloudronusers/status]
  verbs: [patch]
# BackupStores are cluster-scoped: the operator checks each one and answers its import requests.
- apiGroups: [cloudron.io]
  resources: [backupstores]
  verbs: [get, list, watch, patch]
- apiGroups: [cloudron.io]
  resources: [backupstores/status]
  verbs: [patch]
# AppCatalogs are cluster-scoped: kopf watches them and keeps its finalizer on them (for the
# daemon that reads each one at its interval); the operator reports each catalog in its status.
- apiGroups: [cloudron.io]
  resources: [appcatalogs]
  verbs: [get, list, watch, patch]
- apiGroups: [cloudron.io]
  resources: [appcatalogs/status]
  verbs: [patch]
# An AppCatalog may be read from a ConfigMap (spec.configMapRef), in any namespace: read one by name.
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get]
# kopf notices CRDs installed after it started (cert-manager's Certificate) and begins to watch them;
# the operator lists its CloudronApp CRD at start-up, to know whether it is as new as itself.
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
{{- if eq .Values.routing "gateway" }}
# routing: gateway: the operator watches the parent of the apps' listeners (the shared Gateway, or
# the GatewayClass of the apps' own Gateways), to say in each app's status when it is missing.
- apiGroups: [gateway.networking.k8s.io]
  resources: [{{ ternary "gatewayclasses" "gateways" (eq .Values.gateway.listeners "Gateway") }}]
  verbs: [list, watch]
{{- end }}
{{- end -}}

{{/* kopf peering: list/watch the peering objects, get and patch (keep-alives) only ours. */}}
{{- define "cloudron-operator.peeringRules" -}}
{{- $plural := index . 0 -}}
{{- $name := index . 1 -}}
# kopf peering: the replicas see each other's keep-alives...
- apiGroups: [kopf.dev]
  resources: [{{ $plural }}]
  verbs: [list, watch]
# ...and write their own into this release's peering object only.
- apiGroups: [kopf.dev]
  resources: [{{ $plural }}]
  resourceNames: [{{ $name | quote }}]
  verbs: [get, patch]
{{- end -}}

{{/*
Pod Security Admission labels from a dict of mode -> level (enforce, warn, audit).
*/}}
{{- define "cloudron-operator.podSecurityLabels" -}}
{{- range $mode := list "enforce" "warn" "audit" }}
pod-security.kubernetes.io/{{ $mode }}: {{ get $ $mode }}
pod-security.kubernetes.io/{{ $mode }}-version: latest
{{- end }}
{{- end }}
