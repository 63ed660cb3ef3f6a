import { scrape } from "./analysis.ts";
import { goneRequest, type DeployTarget, type LockRelease, type RollbackRequest } from "./engine.ts";
import { KubectlError, type Kubectl } from "./kubectl.ts";
import { TransientBudget, transientLimits } from "./transient.ts";

/** The platform's Deployments, services before the gateway: a new gateway never waits on old services. */
export const deployments = ["auth-service", "user-service", "api-gateway"] as const;
export type DeploymentName = (typeof deployments)[number];
export type Track = "stable" | "preview";

const trackLabel = "azora.os/track";
const lockName = "azora-deploy-lock";
const stateName = "azora-deploy-state";
const rollbackRequestName = "azora-deploy-rollback";
/** The longest one rollout (or the migrate Job) may take: kubectl's --timeout, and the longest step of a deploy. */
export const rolloutTimeoutSeconds = 600;
/** A rollout that failed for good, not a connection that dropped: no point in asking again. */
const definitiveRolloutFailure = /exceeded its progress deadline|timed out waiting|NotFound|not found/i;

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
  /** The id of the rollback request the deploy acted on: the waiting `azora rollback` reports success only for its own. */
  requestId?: string;
  /** Set with requestId: the request aborted canary steps (rather than switching back from a finished switch). */
  abortedCanary?: boolean;
  /** Set when the deploy was stopped by SIGINT or SIGTERM (rolled back by the operator's interrupt, not by a failed gate). */
  interrupted?: NodeJS.Signals;
  /** This deploy's (or rollback's) own id: rollback requests are bound to it, and the lock carries it. Absent in states of older releases. */
  id?: string;
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
export function kubernetesTarget(k: Kubectl, report: (text: string) => void = () => undefined) {
  let interrupted = false;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
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
    const { kind, reason = "", holder = "unknown", at = "?", deployId = "", id = "" } = map.data as Record<string, string>;
    return { kind: kind === "rollback" || kind === "moving" ? kind : "promoting", reason, holder, at, deployId, id };
  }

  const holderOf = (map: any) => `${map?.data?.holder ?? "unknown"} since ${map?.data?.since ?? "?"}`;

  /**
   * Deletes the ConfigMap `name` only while it is the one with data.id `id`: read, then deleted with the API
   * server's precondition on its uid, so one re-created meanwhile (a stale lock taken over) is left alone.
   */
  async function deleteOwned(name: string, id: string): Promise<LockRelease> {
    const held = await getJson("configmap", name);
    if (!held) return { released: false };
    if (held.data?.id !== id) return { released: false, holder: holderOf(held) };
    const options = { kind: "DeleteOptions", apiVersion: "v1", preconditions: { uid: held.metadata?.uid } };
    const result = await k.run(["delete", "--raw", `/api/v1/namespaces/${k.namespace}/configmaps/${name}`, "-f", "-"], JSON.stringify(options));
    if (result.code === 0) return { released: true };
    if (/NotFound|not found/i.test(result.stderr)) return { released: false };
    if (/Conflict|Precondition failed/i.test(result.stderr)) return { released: false, holder: holderOf(await getJson("configmap", name)) };
    throw new KubectlError(`kubectl delete configmap ${name}: ${result.stderr.trim()}`);
  }

  /**
   * `kubectl rollout status` or `wait` within rolloutTimeoutSeconds in all: a call that fails for a passing
   * reason (the API server unreachable for a moment) is asked again with the time left, within the transient
   * budget; a rollout that failed for good, the deadline, or an interrupt ends it with kubectl's message.
   */
  async function waitUntilDone(args: string[]): Promise<void> {
    const deadline = Date.now() + rolloutTimeoutSeconds * 1000;
    const budget = new TransientBudget(`kubectl ${args.join(" ")}`, transientLimits, report);
    for (let pause = 1000; ; pause = Math.min(pause * 2, 5000)) {
      const result = await k.run([...args, `--timeout=${Math.max(1, Math.ceil((deadline - Date.now()) / 1000))}s`]);
      if (result.code === 0) return budget.succeeded();
      const error = new KubectlError(`kubectl ${args.join(" ")}: ${result.stderr.trim() || `exit ${result.code}`}`);
      if (interrupted || definitiveRolloutFailure.test(result.stderr) || Date.now() >= deadline) throw error;
      budget.failed(error);
      await sleep(Math.min(pause, Math.max(0, deadline - Date.now())));
    }
  }

  return {
    namespace: k.namespace,

    /** The namespace exists and kubectl reaches it. */
    async reachable(): Promise<boolean> {
      return (await getJson("namespace", k.namespace)) !== undefined;
    },

    /** Takes the environment's deploy lock (a ConfigMap only one client can create, carrying the taker's id); the holder when taken. */
    async lock(holder: string, id: string): Promise<{ ok: true } | { ok: false; holder: string }> {
      const created = await k.run(["create", "configmap", lockName, `--from-literal=holder=${holder}`, `--from-literal=since=${new Date().toISOString()}`, `--from-literal=id=${id}`]);
      if (created.code === 0) return { ok: true };
      if (!/AlreadyExists|already exists/i.test(created.stderr)) throw new Error(`kubectl create configmap ${lockName}: ${created.stderr.trim()}`);
      return { ok: false, holder: holderOf(await getJson("configmap", lockName)) };
    },

    /** Releases the lock only while it is still the one taken with `id` (not one taken over after it was removed as stale). */
    unlock: (id: string) => deleteOwned(lockName, id),

    async lockHolder(): Promise<string | undefined> {
      const held = await getJson("configmap", lockName);
      return held ? holderOf(held) : undefined;
    },

    /** Ends the kubectl wait running now; later waits are not asked again after a failure. */
    interrupt(): void {
      interrupted = true;
      k.interruptRunning();
    },

    /** The rollback request or promotion marker (a ConfigMap only one client can create). */
    async requestRollback(request: RollbackRequest): Promise<{ ok: true } | { ok: false; existing: RollbackRequest }> {
      const literals = Object.entries(request).map(([key, value]) => `--from-literal=${key}=${value}`);
      const created = await k.run(["create", "configmap", rollbackRequestName, ...literals]);
      if (created.code === 0) return { ok: true };
      if (!/AlreadyExists|already exists/i.test(created.stderr)) throw new Error(`kubectl create configmap ${rollbackRequestName}: ${created.stderr.trim()}`);
      const existing = await readRollbackRequest();
      return { ok: false, existing: existing ?? goneRequest };
    },

    readRollbackRequest,

    /** Removes the request; with `id`, only while it is that one. */
    async clearRollbackRequest(id?: string): Promise<void> {
      if (id) await deleteOwned(rollbackRequestName, id);
      else await k.must(["delete", "configmap", rollbackRequestName, "--ignore-not-found"]);
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
      await waitUntilDone(["wait", "--for=condition=complete", "job/migrate"]);
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
      for (const name of deployments) await waitUntilDone(["rollout", "status", `deployment/${previewOf(name)}`]);
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
      await waitUntilDone(["rollout", "status", `deployment/${previewOf(name)}`]);
    },

    /** The stable Deployments move to version while traffic is on the preview track, so the rolling update is unseen. */
    async promote(version: string): Promise<void> {
      for (const name of deployments) {
        await k.must(["set", "image", `deployment/${name}`, `${name}=azora/${name}:${version}`]);
        await waitUntilDone(["rollout", "status", `deployment/${name}`]);
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
        await waitUntilDone(["rollout", "status", `deployment/${name}`]);
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
    longestStepSeconds: rolloutTimeoutSeconds,
    interrupt: target.interrupt,
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
    clearRollbackRequest: (id) => target.clearRollbackRequest(id),
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
