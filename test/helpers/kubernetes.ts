import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";

/** A rendered Kubernetes object, loosely typed: the policy tests read paths that every kind may lack. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  [key: string]: unknown;
}

export const kubernetesDir = join(import.meta.dirname, "..", "..", "deployment", "kubernetes");
export const overlays = ["staging", "production"] as const;
export type Overlay = (typeof overlays)[number];

/** Every object in a YAML stream (`---` separated), without the empty documents. */
export function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((document) => document.toJS() as K8sObject | null)
    .filter((object): object is K8sObject => object !== null);
}

/** `kubectl kustomize` of one overlay (or of any kustomization directory), parsed. Offline: needs no cluster. */
export function renderKustomization(dir: string): K8sObject[] {
  return parseObjects(execFileSync("kubectl", ["kustomize", dir], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }));
}

export function renderOverlay(overlay: Overlay): K8sObject[] {
  return renderKustomization(join(kubernetesDir, "overlays", overlay));
}

/** The pod template of a workload (Deployment, Job, CronJob), or undefined for other kinds. */
export function podSpecOf(object: K8sObject): any | undefined {
  if (object.kind === "Deployment" || object.kind === "Job") return object.spec?.template?.spec;
  if (object.kind === "CronJob") return object.spec?.jobTemplate?.spec?.template?.spec;
  return undefined;
}

export function podLabelsOf(object: K8sObject): Record<string, string> {
  const template = object.kind === "CronJob" ? object.spec?.jobTemplate?.spec?.template : object.spec?.template;
  return template?.metadata?.labels ?? {};
}

/** Whether a label selector's matchLabels all hold in a set of labels. */
export function selects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

/**
 * Validates an object against the Kubernetes OpenAPI schema of its apiVersion and kind (kubernetes-models).
 * Throws with the schema's complaints, or when no model exists for the kind (a typo in apiVersion or kind).
 */
export async function validateObject(object: K8sObject): Promise<void> {
  const [group, version] = object.apiVersion.includes("/") ? object.apiVersion.split("/") : [undefined, object.apiVersion];
  const modulePath = group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`;
  let models: Record<string, new (data: unknown) => { validate(): void }>;
  try {
    models = (await import(modulePath)) as typeof models;
  } catch {
    throw new Error(`${object.kind}/${object.metadata.name}: no Kubernetes schema for apiVersion ${object.apiVersion}`);
  }
  const Model = models[object.kind];
  if (!Model) throw new Error(`${object.kind}/${object.metadata.name}: ${object.apiVersion} has no kind ${object.kind}`);
  new Model(object).validate();
}
