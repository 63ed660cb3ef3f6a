import { scrape } from "./analysis.ts";
import type { DeployTarget, RollbackRequest } from "./engine.ts";
import type { Kubectl } from "./kubectl.ts";

/** The platform's Deployments, services before the gateway: a new gateway never waits on old services. */
export const deployments = ["auth-service", "user-service", "api-gateway"] as const;
export type DeploymentName = (typeof deployments)[number];
export type Track = "stable" | "preview";

const trackLabel = "azora.os/track";
const lockName = "azora-deploy-lock";
const stateName = "azora-deploy-state";
const rollbackRequestName = "azora-deploy-rollback";
const rolloutTimeout = "--timeout=600s";

export interface DeployState {
  strategy: "blue-green" | "canary" | "rollback";
  version: string;
  previousVersion: string;
  /**
   * `canary`: the canary steps, part of the traffic on the new version; `switched`: all of it there and the old
   * version warm. In both an operator's rollback is handed to the deploy, which puts all traffic back on the old one.
   */
  phase: "deploying" | "canary" | "switched" | "succeeded" | "rolled_back" | "rollback_failed";
  step: string;
  startedAt: string;
  finishedAt?: string;
  reason?: string;
  /** Why the automatic rollback itself failed (phase rollback_failed). */
  rollbackError?: string;
  /** Who asked for the rollback (phase rolled_back by an operator's request); absent when the deploy failed by itself. */
  requestedBy?: string;
}

/** The release tag of a pinned image reference (azora/api-gateway:v1.2.3 → v1.2.3). */
export function tagOf(image: string): string {
  return image.slice(image.lastIndexOf(":") + 1);
}

const previewOf = (name: string) => `${name}-preview`;

/**
 * The kubernetes target: two tracks per service. `stable` is the Deployment the guide names
 * (deployment/api-gateway); `preview` is a copy at the new version (deployment/api-gateway-preview).
 * Traffic moves by the Services' selector; the old pods keep running until the release is promoted.
 */
export function kubernetesTarget(k: Kubectl) {
  async function getJson(kind: string, name: string): Promise<any | undefined> {
    const result = await k.run(["get", kind, name, "-o", "json"]);
    if (result.code === 0) return JSON.parse(result.stdout);
    if (/NotFound|not found/i.test(result.stderr)) return undefined;
    throw new Error(`kubectl get ${kind} ${name}: ${result.stderr.trim()}`);
  }

  /** A copy of a stable Deployment at a new version, labelled preview, its gateway pointed at the preview services. */
  function previewDeployment(stable: any, name: DeploymentName, version: string, replicas: number): object {
    const template = structuredClone(stable.spec.template);
    template.metadata.labels[trackLabel] = "preview";
    const container = template.spec.containers[0];
    container.image = `azora/${name}:${version}`;
    if (name === "api-gateway") {
      // The preview gateway talks to the preview services, so smoke tests and analysis see the new release whole.
      container.env = [...(container.env ?? []), { name: "AUTH_URL", value: "http://auth-service-preview:8080" }, { name: "USERS_URL", value: "http://user-service-preview:8080" }];
    }
    if (name === "user-service") container.env = [...(container.env ?? []), { name: "AUTH_URL", value: "http://auth-service-preview:8080" }];
    return {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: previewOf(name), labels: { ...stable.metadata.labels, [trackLabel]: "preview" } },
      spec: { ...stable.spec, replicas, selector: { matchLabels: { ...stable.spec.selector.matchLabels, [trackLabel]: "preview" } }, template },
    };
  }

  async function readRollbackRequest(): Promise<RollbackRequest | undefined> {
    const map = await getJson("configmap", rollbackRequestName);
    if (!map?.data) return undefined;
    const { kind, reason = "", holder = "unknown", at = "?" } = map.data as Record<string, string>;
    return { kind: kind === "rollback" ? "rollback" : "promoting", reason, holder, at };
  }

  return {
    namespace: k.namespace,

    /** The namespace exists and kubectl reaches it. */
    async reachable(): Promise<boolean> {
      return (await getJson("namespace", k.namespace)) !== undefined;
    },

    /** Takes the environment's deploy lock (a ConfigMap only one client can create); the holder when taken. */
    async lock(holder: string): Promise<{ ok: true } | { ok: false; holder: string }> {
      const created = await k.run(["create", "configmap", lockName, `--from-literal=holder=${holder}`, `--from-literal=since=${new Date().toISOString()}`]);
      if (created.code === 0) return { ok: true };
      if (!/AlreadyExists|already exists/i.test(created.stderr)) throw new Error(`kubectl create configmap ${lockName}: ${created.stderr.trim()}`);
      const held = await getJson("configmap", lockName);
      return { ok: false, holder: `${held?.data?.holder ?? "unknown"} since ${held?.data?.since ?? "?"}` };
    },

    async unlock(): Promise<void> {
      await k.must(["delete", "configmap", lockName, "--ignore-not-found"]);
    },

    async lockHolder(): Promise<string | undefined> {
      const held = await getJson("configmap", lockName);
      return held ? `${held.data?.holder ?? "unknown"} since ${held.data?.since ?? "?"}` : undefined;
    },

    /** The rollback request or promotion marker (a ConfigMap only one client can create). */
    async requestRollback(request: RollbackRequest): Promise<{ ok: true } | { ok: false; existing: RollbackRequest }> {
      const literals = Object.entries(request).map(([key, value]) => `--from-literal=${key}=${value}`);
      const created = await k.run(["create", "configmap", rollbackRequestName, ...literals]);
      if (created.code === 0) return { ok: true };
      if (!/AlreadyExists|already exists/i.test(created.stderr)) throw new Error(`kubectl create configmap ${rollbackRequestName}: ${created.stderr.trim()}`);
      const existing = await readRollbackRequest();
      return { ok: false, existing: existing ?? { kind: "promoting", reason: "unknown", holder: "unknown", at: "?" } };
    },

    readRollbackRequest,

    async clearRollbackRequest(): Promise<void> {
      await k.must(["delete", "configmap", rollbackRequestName, "--ignore-not-found"]);
    },

    async readState(): Promise<DeployState | undefined> {
      const map = await getJson("configmap", stateName);
      return map?.data?.state ? (JSON.parse(map.data.state) as DeployState) : undefined;
    },

    async writeState(state: DeployState): Promise<void> {
      const map = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: stateName, labels: { "app.kubernetes.io/part-of": "azora-os" } }, data: { state: JSON.stringify(state) } };
      await k.must(["apply", "-f", "-"], JSON.stringify(map));
    },

    /** The image tag each stable Deployment runs. */
    async versions(): Promise<Record<DeploymentName, string>> {
      const entries = await Promise.all(
        deployments.map(async (name) => {
          const deployment = await getJson("deployment", name);
          if (!deployment) throw new Error(`deployment/${name} is missing in ${k.namespace}: apply the overlay first (docs/deployment.md)`);
          return [name, tagOf(deployment.spec.template.spec.containers[0].image)] as const;
        }),
      );
      return Object.fromEntries(entries) as Record<DeploymentName, string>;
    },

    /** Pods the stable Deployment runs now (the HPA's choice), at least 1. */
    async replicas(name: DeploymentName): Promise<number> {
      const stable = await getJson("deployment", name);
      return Math.max(stable?.status?.replicas ?? stable?.spec?.replicas ?? 1, 1);
    },

    async previewExists(): Promise<boolean> {
      return (await getJson("deployment", previewOf("api-gateway"))) !== undefined;
    },

    /** `azora migrate` at the new version, as a Job built from the gateway's pod template (same config and secrets). */
    async migrate(version: string): Promise<void> {
      const gateway = await getJson("deployment", "api-gateway");
      const pod = structuredClone(gateway.spec.template.spec);
      delete pod.terminationGracePeriodSeconds;
      const container = pod.containers[0];
      Object.assign(container, { name: "migrate", image: `azora/api-gateway:${version}`, args: ["migrate"] });
      for (const key of ["ports", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle"]) delete container[key];
      const job = {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name: "migrate", labels: { "app.kubernetes.io/name": "migrate", "app.kubernetes.io/part-of": "azora-os" } },
        spec: { backoffLimit: 2, activeDeadlineSeconds: 1800, ttlSecondsAfterFinished: 86400, template: { metadata: { labels: { "app.kubernetes.io/name": "migrate", "app.kubernetes.io/part-of": "azora-os" } }, spec: { ...pod, restartPolicy: "Never" } } },
      };
      await k.must(["delete", "job", "migrate", "--ignore-not-found"]);
      await k.must(["apply", "-f", "-"], JSON.stringify(job));
      await k.must(["wait", "--for=condition=complete", "job/migrate", rolloutTimeout]);
    },

    /** Starts the preview track at version: every service, with Services for the preview gateway to reach them. */
    async startPreview(version: string, gatewayReplicas?: number): Promise<void> {
      for (const name of deployments) {
        const stable = await getJson("deployment", name);
        const replicas = name === "api-gateway" && gatewayReplicas !== undefined ? gatewayReplicas : Math.max(stable.status?.replicas ?? stable.spec.replicas ?? 3, 1);
        await k.must(["apply", "-f", "-"], JSON.stringify(previewDeployment(stable, name, version, replicas)));
        if (name !== "api-gateway") {
          const service = await getJson("service", name);
          const preview = {
            apiVersion: "v1",
            kind: "Service",
            metadata: { name: previewOf(name), labels: service.metadata.labels },
            spec: { type: "ClusterIP", selector: { ...service.spec.selector, [trackLabel]: "preview" }, ports: service.spec.ports },
          };
          await k.must(["apply", "-f", "-"], JSON.stringify(preview));
        }
      }
      for (const name of deployments) await k.must(["rollout", "status", `deployment/${previewOf(name)}`, rolloutTimeout]);
    },

    /** Points a Service at one track, or at both (a canary: traffic splits by the pods' count). */
    async route(names: readonly DeploymentName[], track: Track | "both"): Promise<void> {
      for (const name of names) {
        const patch = { spec: { selector: { [trackLabel]: track === "both" ? null : track } } };
        await k.must(["patch", "service", name, "--type=merge", "-p", JSON.stringify(patch)]);
      }
    },

    async scalePreview(name: DeploymentName, replicas: number): Promise<void> {
      await k.must(["scale", `deployment/${previewOf(name)}`, `--replicas=${replicas}`]);
      await k.must(["rollout", "status", `deployment/${previewOf(name)}`, rolloutTimeout]);
    },

    /** The stable Deployments move to version while traffic is on the preview track, so the rolling update is unseen. */
    async promote(version: string): Promise<void> {
      for (const name of deployments) {
        await k.must(["set", "image", `deployment/${name}`, `${name}=azora/${name}:${version}`]);
        await k.must(["rollout", "status", `deployment/${name}`, rolloutTimeout]);
      }
    },

    async removePreview(): Promise<void> {
      for (const name of deployments) {
        await k.must(["delete", "deployment", previewOf(name), "--ignore-not-found"]);
        if (name !== "api-gateway") await k.must(["delete", "service", previewOf(name), "--ignore-not-found"]);
      }
    },

    /** After a promotion: the guide's `kubectl rollout undo`, for every service. */
    async undo(): Promise<void> {
      for (const name of deployments) {
        await k.must(["rollout", "undo", `deployment/${name}`]);
        await k.must(["rollout", "status", `deployment/${name}`, rolloutTimeout]);
      }
    },

    /** The preview gateway's public and ops ports on this machine, for the smoke tests and the analysis. */
    async openPreviewGateway(): Promise<{ baseUrl: string; opsUrl: string; close(): void }> {
      const api = await k.forward(`deployment/${previewOf("api-gateway")}`, 8080);
      const ops = await k.forward(`deployment/${previewOf("api-gateway")}`, 9090).catch((error: unknown) => {
        api.close();
        throw error;
      });
      return { baseUrl: api.url, opsUrl: ops.url, close: () => (api.close(), ops.close()) };
    },
  };
}

export type KubernetesTarget = ReturnType<typeof kubernetesTarget>;

/** The kubernetes target as the deploy engine drives it (engine.ts); the kubectl sequence is docs/deployment.md's. */
export function kubernetesDeployTarget(target: KubernetesTarget): DeployTarget {
  let stableGatewayReplicas = 1;
  return {
    where: target.namespace,
    staleLockHint: `run: kubectl delete configmap azora-deploy-lock -n ${target.namespace}`,
    currentVersion: async () => (await target.versions())["api-gateway"],
    lock: target.lock,
    unlock: target.unlock,
    readState: target.readState,
    writeState: target.writeState,
    migrate: target.migrate,
    startPreview: (version, strategy) => target.startPreview(version, strategy === "canary" ? 1 : undefined),
    async openPreview() {
      const gateway = await target.openPreviewGateway();
      return { baseUrl: gateway.baseUrl, counts: () => scrape(gateway.opsUrl), close: gateway.close };
    },
    // Traffic splits by pod count once the gateway Service selects both tracks.
    async beginCanary() {
      stableGatewayReplicas = await target.replicas("api-gateway");
      await target.route(["api-gateway"], "both");
    },
    canaryStep: (percent) => target.scalePreview("api-gateway", Math.max(1, Math.round((stableGatewayReplicas * percent) / (100 - percent)))),
    switchToPreview: () => target.route(deployments, "preview"),
    async promote(version) {
      await target.promote(version);
      await target.route(deployments, "stable");
      await target.removePreview();
    },
    switchBack: () => target.route(deployments, "stable"),
    removePreview: () => target.removePreview(),
    requestRollback: (request) => target.requestRollback(request),
    readRollbackRequest: () => target.readRollbackRequest(),
    clearRollbackRequest: () => target.clearRollbackRequest(),
    // With a preview track still up (a deploy in flight or just switched), traffic goes back to the stable
    // track at once; after a promotion, every Deployment goes back one revision.
    async rollback() {
      const before = (await target.versions())["api-gateway"];
      if (await target.previewExists()) {
        await target.route(deployments, "stable");
        await target.removePreview();
      } else {
        await target.undo();
      }
      return { before, after: (await target.versions())["api-gateway"] };
    },
  };
}
