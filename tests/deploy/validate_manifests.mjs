// Offline validation of the Kubernetes manifests, without a cluster.
//
// Every kustomization under DEPLOY_K8S_DIR (the base, nats-dev and each
// overlay) is rendered with `kubectl kustomize`, as `kubectl apply -k` would
// render it. Then each rendered object is checked:
//   - against the OpenAPI schema of its kind (kubernetes-models; the
//     Prometheus Operator's models for the PodMonitor);
//   - strictly: a field the schema does not know is an error (a typo such
//     as `replica:` or `readinesProbe:` would otherwise be dropped by the
//     API server without a word);
//   - for the references a schema cannot see: selectors select pods, named
//     and numbered ports (Services, probes, NetworkPolicies, PodMonitors)
//     exist on the containers, a StatefulSet's serviceName is a headless
//     Service, ConfigMaps, Secrets and PersistentVolumeClaims a pod uses are
//     defined (or come from a volumeClaimTemplate), images carry a tag.
//
//   node tests/deploy/validate_manifests.mjs deploy/k8s
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const yaml = require("js-yaml");

// The models register their JSON schemas with the validator as they load:
// keep a copy of each, for the strict walk over unknown fields.
const validator = require("@kubernetes-models/validate");
const schemas = new Map();
const register = validator.register;
validator.register = (id, schema) => {
  schemas.set(id, schema);
  return register(id, schema);
};

const root = process.argv[2];
if (!root) {
  console.error("usage: validate_manifests.mjs DEPLOY_K8S_DIR");
  process.exit(2);
}

function kustomizations(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return kustomizations(full);
    return entry.name === "kustomization.yaml" ? [dir] : [];
  });
}

function modelOf(apiVersion, kind) {
  if (apiVersion === "monitoring.coreos.com/v1") {
    return require(`@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/${kind}`)[kind];
  }
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const module = group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
  return require(module)[kind];
}

// The schema `ref` points at ("io.k8s.api.core.v1.Probe#").
const resolve = (ref) => schemas.get(ref.replace(/#$/, ""));

// Fields of `value` that `schema` does not define, as paths.
function unknownFields(value, schema, at, out) {
  if (value == null || schema == null || schema["x-kubernetes-preserve-unknown-fields"]) return;
  if (schema.$ref) return unknownFields(value, resolve(schema.$ref), at, out);
  for (const alternatives of [schema.oneOf, schema.anyOf, schema.allOf]) {
    const typed = (alternatives ?? []).find((s) => s.$ref || s.properties || s.items);
    if (typed) return unknownFields(value, typed, at, out);
  }
  if (Array.isArray(value)) {
    if (schema.items) value.forEach((v, i) => unknownFields(v, schema.items, `${at}[${i}]`, out));
    return;
  }
  if (typeof value !== "object") return;
  if (schema.properties) {
    for (const [key, v] of Object.entries(value)) {
      if (key in schema.properties) {
        unknownFields(v, schema.properties[key], `${at}.${key}`, out);
      } else if (!schema.additionalProperties) {
        out.push(`${at}.${key}: unknown field`);
      }
    }
  } else if (typeof schema.additionalProperties === "object") {
    for (const [key, v] of Object.entries(value)) {
      unknownFields(v, schema.additionalProperties, `${at}.${key}`, out);
    }
  }
}

const problems = [];

function checkObject(where, obj) {
  const name = `${where}: ${obj.kind} ${obj.metadata?.name}`;
  let Model;
  try {
    Model = modelOf(obj.apiVersion, obj.kind);
    new Model(obj).validate();
  } catch (err) {
    problems.push(`${name}: ${err.message}`);
    return;
  }
  const unknown = [];
  const id = [...schemas.keys()].find((k) => {
    const s = schemas.get(k);
    return s.properties?.kind?.enum?.[0] === obj.kind &&
      s.properties?.apiVersion?.enum?.[0] === obj.apiVersion;
  });
  if (!id) {
    problems.push(`${name}: no schema found for the strict check`);
    return;
  }
  unknownFields(obj, schemas.get(id), "", unknown);
  for (const u of unknown) problems.push(`${name}: ${u}`);
}

const matches = (selector, labels) =>
  Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);

function checkReferences(where, objects) {
  const named = (kind, n) => objects.some((o) => o.kind === kind && o.metadata.name === n);
  const workloads = objects.filter((o) => ["Deployment", "StatefulSet", "Job"].includes(o.kind));
  const podsOf = (selector) => workloads.filter((w) => matches(selector, w.spec.template.metadata?.labels));
  const portsOf = (w) => w.spec.template.spec.containers.flatMap((c) => c.ports ?? []);
  const hasPort = (pods, port) => pods.some((w) => portsOf(w).some(
    (p) => (typeof port === "string" ? p.name === port : p.containerPort === port)));

  for (const w of workloads) {
    const name = `${where}: ${w.kind} ${w.metadata.name}`;
    if (w.spec.selector && !matches(w.spec.selector.matchLabels, w.spec.template.metadata?.labels)) {
      problems.push(`${name}: its selector does not match its pod labels`);
    }
    if (w.kind === "StatefulSet") {
      const service = objects.find((o) => o.kind === "Service" && o.metadata.name === w.spec.serviceName);
      if (!service || service.spec.clusterIP !== "None") {
        problems.push(`${name}: serviceName ${w.spec.serviceName} is not a headless Service`);
      }
    }
    const pod = w.spec.template.spec;
    const templates = (w.spec.volumeClaimTemplates ?? []).map((t) => t.metadata.name);
    const volumes = (pod.volumes ?? []).map((v) => v.name);
    for (const v of pod.volumes ?? []) {
      if (v.configMap && !named("ConfigMap", v.configMap.name)) {
        problems.push(`${name}: volume ${v.name} uses ConfigMap ${v.configMap.name}, defined nowhere`);
      }
      if (v.secret && !named("Secret", v.secret.secretName)) {
        problems.push(`${name}: volume ${v.name} uses Secret ${v.secret.secretName}, defined nowhere`);
      }
      if (v.persistentVolumeClaim && !named("PersistentVolumeClaim", v.persistentVolumeClaim.claimName)) {
        problems.push(`${name}: volume ${v.name} uses claim ${v.persistentVolumeClaim.claimName}, defined nowhere`);
      }
    }
    for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
      if (!/:[\w.-]+$|@sha256:/.test(c.image)) problems.push(`${name}: image ${c.image} has no tag`);
      for (const m of c.volumeMounts ?? []) {
        if (!volumes.includes(m.name) && !templates.includes(m.name)) {
          problems.push(`${name}: ${c.name} mounts ${m.name}, which is neither a volume nor a claim template`);
        }
      }
      for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
        const p = c[probe];
        const port = p?.grpc?.port ?? p?.httpGet?.port ?? p?.tcpSocket?.port;
        if (port !== undefined && !(c.ports ?? []).some(
          (cp) => (typeof port === "string" ? cp.name === port : cp.containerPort === port))) {
          problems.push(`${name}: ${c.name}'s ${probe} uses port ${port}, which it does not expose`);
        }
      }
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
        const kind = e.valueFrom?.secretKeyRef ? "Secret" : "ConfigMap";
        if (ref && !ref.optional && !named(kind, ref.name)) {
          problems.push(`${name}: env ${e.name} uses ${kind} ${ref.name}, defined nowhere`);
        }
      }
    }
  }
  for (const o of objects) {
    const name = `${where}: ${o.kind} ${o.metadata.name}`;
    const selector = o.kind === "Service" ? o.spec.selector
      : ["PodDisruptionBudget", "PodMonitor"].includes(o.kind) ? o.spec.selector.matchLabels
        : o.kind === "NetworkPolicy" ? o.spec.podSelector.matchLabels : undefined;
    if (selector === undefined) continue;
    const pods = podsOf(selector);
    if (pods.length === 0) {
      problems.push(`${name}: selects no workload's pods`);
      continue;
    }
    const ports = o.kind === "Service" ? o.spec.ports.map((p) => p.targetPort ?? p.port)
      : o.kind === "PodMonitor" ? o.spec.podMetricsEndpoints.map((e) => e.port)
        : o.kind === "NetworkPolicy" ? o.spec.ingress.flatMap((r) => (r.ports ?? []).map((p) => p.port))
          : [];
    for (const port of ports) {
      if (!hasPort(pods, port)) problems.push(`${name}: port ${port} is no port of the pods it selects`);
    }
  }
}

let rendered = 0;
for (const dir of kustomizations(root)) {
  const where = path.relative(root, dir) || ".";
  let text;
  try {
    text = execFileSync("kubectl", ["kustomize", dir], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    problems.push(`${where}: kubectl kustomize failed: ${err.stderr || err.message}`);
    continue;
  }
  const objects = yaml.loadAll(text).filter((o) => o != null);
  for (const obj of objects) checkObject(where, obj);
  checkReferences(where, objects);
  rendered += objects.length;
  console.log(`${where}: ${objects.length} objects`);
}

if (problems.length > 0) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log(`validate_manifests: ${rendered} rendered objects valid (unknown fields rejected), references resolve`);
