// Every overlay renders with `kubectl kustomize` (offline) and every object in it validates against the
// Kubernetes OpenAPI schemas (kubernetes-models). No cluster can run here; this is what one would refuse.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { effectiveSettings } from "../../src/platform/config.ts";
import { kubernetesDir, overlays, parseObjects, renderOverlay, validateObject, type K8sObject } from "../helpers/kubernetes.ts";
import { toolAvailability } from "../helpers/tools.ts";

const kubectl = toolAvailability("kubectl", "kubernetes-client");
if (!kubectl.run) console.log(`kubernetes render suite skipped: ${kubectl.reason}`);

/** The names the operations guide uses: its kubectl commands must find them. */
const guideNames: [kind: string, name: string][] = [
  ["Deployment", "api-gateway"],
  ["Deployment", "auth-service"],
  ["Deployment", "user-service"],
  ["Deployment", "database-check"],
  ["Service", "database"],
  ["HorizontalPodAutoscaler", "api-gateway-hpa"],
  ["Job", "migrate"],
];

describe.skipIf(!kubectl.run).each(overlays)("overlay %s", (overlay) => {
  const objects = kubectl.run ? renderOverlay(overlay) : [];

  it("validates every rendered object against the Kubernetes schemas", async () => {
    expect(objects.length).toBeGreaterThan(20);
    const problems: string[] = [];
    for (const object of objects) {
      await validateObject(object).catch((error: Error) => problems.push(`${object.kind}/${object.metadata.name}: ${error.message}`));
    }
    expect(problems).toEqual([]);
  });

  it(`puts every namespaced object in azora-${overlay}`, () => {
    const namespaces = objects.filter((object) => object.kind === "Namespace").map((object) => object.metadata.name);
    expect(namespaces).toEqual([`azora-${overlay}`]);
    const elsewhere = objects.filter((object) => object.kind !== "Namespace" && object.metadata.namespace !== `azora-${overlay}`);
    expect(elsewhere.map((object) => `${object.kind}/${object.metadata.name}`)).toEqual([]);
  });

  it("has every object the operations guide names", () => {
    const present = new Set(objects.map((object) => `${object.kind}/${object.metadata.name}`));
    expect(guideNames.filter(([kind, name]) => !present.has(`${kind}/${name}`))).toEqual([]);
  });

  it("carries no Secret: secret values never live in git", () => {
    expect(objects.filter((object) => object.kind === "Secret")).toEqual([]);
  });

  it("configures only variables the platform knows", () => {
    const known = new Set(effectiveSettings({}).map((setting) => setting.name));
    const config = objects.find((object) => object.kind === "ConfigMap" && object.metadata.name === "azora-config");
    expect(Object.keys(config?.data ?? {}).filter((key) => !known.has(key))).toEqual([]);
  });
});

describe("the schema check", () => {
  it("refuses what a cluster would refuse", async () => {
    const broken = { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "broken" }, spec: { replicas: "three" } };
    await expect(validateObject(broken as K8sObject)).rejects.toThrow(/replicas/);
    await expect(validateObject({ ...broken, kind: "Deploymnet" } as K8sObject)).rejects.toThrow(/no kind Deploymnet/);
  });
});

describe("files applied by hand", () => {
  const known = new Set(effectiveSettings({}).map((setting) => setting.name));

  it("the Secret template validates, names only known variables and holds no value", async () => {
    const [secret, ...rest] = parseObjects(readFileSync(join(kubernetesDir, "secrets", "azora-secrets.template.yaml"), "utf8"));
    expect(rest).toEqual([]);
    await validateObject(secret as K8sObject);
    const values = { ...secret?.data, ...secret?.stringData };
    expect(Object.keys(values).filter((key) => !known.has(key))).toEqual([]);
    expect(Object.entries(values).filter(([, value]) => value !== "")).toEqual([]);
    expect(Object.keys(values)).toEqual(expect.arrayContaining(["DATABASE_URL", "REDIS_URL", "AZORA_MASTER_KEY", "AZORA_OPS_TOKEN"]));
  });

  it("maintenance-mode.yaml is the ConfigMap the gateway mounts, at the path MAINTENANCE_FILE names", async () => {
    const [configMap] = parseObjects(readFileSync(join(kubernetesDir, "maintenance-mode.yaml"), "utf8"));
    await validateObject(configMap as K8sObject);
    if (!kubectl.run) return;
    const gateway = renderOverlay("production").find((object) => object.kind === "Deployment" && object.metadata.name === "api-gateway");
    const pod = gateway?.spec.template.spec;
    const volume = pod.volumes.find((candidate: any) => candidate.configMap?.name === configMap?.metadata.name);
    expect(volume?.configMap.optional).toBe(true); // no ConfigMap: maintenance is off, the pod still starts
    const container = pod.containers[0];
    const mount = container.volumeMounts.find((candidate: any) => candidate.name === volume.name);
    const file = container.env.find((variable: any) => variable.name === "MAINTENANCE_FILE")?.value;
    const key = Object.keys(configMap?.data ?? {})[0];
    expect(file).toBe(`${mount.mountPath}/${key}`);
  });
});
