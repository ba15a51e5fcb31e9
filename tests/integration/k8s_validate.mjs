// Validates Kubernetes objects, given as multi-document YAML on stdin, against the
// schemas of the npm package kubernetes-models (v5), and flags every field name that no
// Kubernetes type has: the schemas accept unknown fields, so a misspelt optional field
// (readOnlyRootFileSystem) would pass them. Prints JSON {"objects": [...], "errors": [...]}.
// Run by test_deploy_schema.py from a directory where kubernetes-models and yaml (v2) are
// installed (node_modules beside this file).
import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const here = path.dirname(fileURLToPath(import.meta.url));
const modules = path.join(here, "node_modules");

// Every property name declared by a type of the models (their .d.ts files).
function vocabulary() {
  const names = new Set();
  const walk = (dir) => {
    for (const entry of readdirSync(dir)) {
      const p = path.join(dir, entry);
      if (statSync(p).isDirectory()) walk(p);
      else if (entry.endsWith(".d.ts")) {
        for (const m of readFileSync(p, "utf8").matchAll(/^\s*"?([A-Za-z_$][\w$-]*)"?\??:/gm))
          names.add(m[1]);
      }
    }
  };
  walk(path.join(modules, "kubernetes-models"));
  walk(path.join(modules, "@kubernetes-models", "apimachinery"));
  return names;
}

// Maps whose keys are data, not fields.
const FREE_FORM = new Set(["labels", "annotations", "data", "binaryData", "stringData",
  "matchLabels", "nodeSelector", "limits", "requests", "capacity"]);

function unknownFields(obj, known, where, out) {
  if (Array.isArray(obj)) {
    obj.forEach((v, i) => unknownFields(v, known, `${where}[${i}]`, out));
    return;
  }
  if (obj === null || typeof obj !== "object") return;
  for (const [k, v] of Object.entries(obj)) {
    if (!known.has(k)) out.push(`${where}.${k}: no Kubernetes type has this field`);
    if (FREE_FORM.has(k)) continue;
    // A Service's selector is a label map; a workload's is a LabelSelector.
    if (k === "selector" && v && typeof v === "object" &&
        Object.values(v).every((x) => typeof x === "string")) continue;
    unknownFields(v, known, `${where}.${k}`, out);
  }
}

const input = readFileSync(0, "utf8");
const objects = [];
const errors = [];
const known = vocabulary();
for (const doc of parseAllDocuments(input, { uniqueKeys: true })) {
  if (doc.errors.length) {
    errors.push(`YAML: ${doc.errors.map((e) => e.message).join("; ")}`);
    continue;
  }
  const obj = doc.toJS();
  if (obj === null) continue;
  objects.push(obj);
  const id = `${obj.kind}/${obj.metadata?.name}`;
  let Model;
  try {
    const mod = await import(`kubernetes-models/${obj.apiVersion}/${obj.kind}`);
    Model = mod[obj.kind];
  } catch (e) {
    errors.push(`${id}: no model for ${obj.apiVersion} ${obj.kind}`);
    continue;
  }
  try {
    new Model(obj).validate();
  } catch (e) {
    errors.push(`${id}: ${e.message}`);
  }
  const unknown = [];
  unknownFields(obj, known, id, unknown);
  errors.push(...unknown);
}
process.stdout.write(JSON.stringify({ objects, errors }));
