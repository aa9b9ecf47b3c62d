// Offline validation of every manifest under deploy/k8s, without a cluster:
// each object against the Kubernetes OpenAPI schema of its kind
// (kubernetes-models), then the references between objects that a schema
// cannot see: every file a kustomization lists exists, every Service and
// PodDisruptionBudget selects the pods of a workload, a StatefulSet's
// serviceName is a headless Service, a ConfigMap a pod mounts is defined,
// and every port a Service targets by name is a container port.
//
//   node tests/deploy/validate_manifests.mjs deploy/k8s
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const yaml = require("js-yaml");

const root = process.argv[2];
if (!root) {
  console.error("usage: validate_manifests.mjs DEPLOY_K8S_DIR");
  process.exit(2);
}

const problems = [];
const objects = [];  // {file, obj}

function yamlFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return yamlFiles(full);
    return entry.name.endsWith(".yaml") ? [full] : [];
  });
}

// kubernetes-models/<group>/<version>/<Kind>; the core group has none.
function model(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const module = group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
  return require(module)[kind];
}

for (const file of yamlFiles(root)) {
  const rel = path.relative(root, file);
  let docs;
  try {
    docs = yaml.loadAll(fs.readFileSync(file, "utf8")).filter((d) => d != null);
  } catch (err) {
    problems.push(`${rel}: not YAML: ${err.message}`);
    continue;
  }
  for (const obj of docs) {
    if (obj.kind === "Kustomization") {
      for (const res of obj.resources ?? []) {
        if (!fs.existsSync(path.join(path.dirname(file), res))) {
          problems.push(`${rel}: lists ${res}, which does not exist`);
        }
      }
      continue;
    }
    try {
      new (model(obj.apiVersion, obj.kind))(obj).validate();
      objects.push({ file: rel, obj });
    } catch (err) {
      problems.push(`${rel}: ${obj.kind} ${obj.metadata?.name}: ${err.message}`);
    }
  }
}

const workloads = objects.filter(({ obj }) => ["Deployment", "StatefulSet"].includes(obj.kind));
const matches = (selector, labels) =>
  Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
const podsSelectedBy = (selector) =>
  workloads.filter(({ obj }) => matches(selector, obj.spec.template.metadata.labels));

for (const { file, obj } of workloads) {
  const name = `${file}: ${obj.kind} ${obj.metadata.name}`;
  if (!matches(obj.spec.selector.matchLabels, obj.spec.template.metadata.labels)) {
    problems.push(`${name}: its selector does not match its pod labels`);
  }
  if (obj.kind === "StatefulSet") {
    const service = objects.find(({ obj: s }) => s.kind === "Service" &&
      s.metadata.name === obj.spec.serviceName);
    if (!service || service.obj.spec.clusterIP !== "None") {
      problems.push(`${name}: serviceName ${obj.spec.serviceName} is not a headless Service`);
    }
  }
  for (const volume of obj.spec.template.spec.volumes ?? []) {
    const wanted = volume.configMap?.name;
    if (wanted && !objects.some(({ obj: c }) => c.kind === "ConfigMap" && c.metadata.name === wanted)) {
      problems.push(`${name}: mounts ConfigMap ${wanted}, which no manifest defines`);
    }
  }
}

for (const { file, obj } of objects) {
  const name = `${file}: ${obj.kind} ${obj.metadata.name}`;
  if (obj.kind === "Service" || obj.kind === "PodDisruptionBudget") {
    const selector = obj.kind === "Service" ? obj.spec.selector : obj.spec.selector.matchLabels;
    const pods = podsSelectedBy(selector);
    if (pods.length === 0) {
      problems.push(`${name}: selects no workload's pods`);
      continue;
    }
    for (const port of obj.kind === "Service" ? obj.spec.ports : []) {
      if (typeof port.targetPort !== "string") continue;
      const named = pods.some(({ obj: w }) => w.spec.template.spec.containers.some(
        (c) => (c.ports ?? []).some((p) => p.name === port.targetPort)));
      if (!named) problems.push(`${name}: targetPort ${port.targetPort} is no container port`);
    }
  }
}

if (problems.length > 0) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log(`validate_manifests: ${objects.length} objects in ${root} valid, references resolve`);
