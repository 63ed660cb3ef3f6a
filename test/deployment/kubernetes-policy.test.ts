// What a reviewer checks in a manifest, checked on the rendered overlays: probes, resources, hardening,
// graceful termination, autoscaling as the guide, budgets that let drains proceed, matching selectors,
// pinned images, and no ops port on the outside.
import { describe, expect, it } from "vitest";
import { azora } from "../helpers/in-process-cli.ts";
import { overlays, podLabelsOf, podSpecOf, renderOverlay, selects, type K8sObject } from "../helpers/kubernetes.ts";
import { toolAvailability } from "../helpers/tools.ts";

const kubectl = toolAvailability("kubectl", "kubernetes-client");
if (!kubectl.run) console.log(`kubernetes policy suite skipped: ${kubectl.reason}`);

const services = ["api-gateway", "auth-service", "user-service"];
const opsPort = 9090;
const guideResources = { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "500m", memory: "512Mi" } };

const named = (objects: K8sObject[], kind: string, name: string) => objects.find((object) => object.kind === kind && object.metadata.name === name);
const workloads = (objects: K8sObject[]) => objects.filter((object) => podSpecOf(object) !== undefined);
const containersOf = (object: K8sObject): any[] => [...(podSpecOf(object)?.initContainers ?? []), ...(podSpecOf(object)?.containers ?? [])];
const id = (object: K8sObject, container?: { name: string }) => `${object.kind}/${object.metadata.name}${container ? `/${container.name}` : ""}`;

describe.skipIf(!kubectl.run).each(overlays)("overlay %s", (overlay) => {
  const objects = kubectl.run ? renderOverlay(overlay) : [];
  const config = named(objects, "ConfigMap", "azora-config")?.data ?? {};

  it("gives every long-running container liveness and readiness probes; the platform's are on the ops port", () => {
    const missing: string[] = [];
    for (const deployment of objects.filter((object) => object.kind === "Deployment")) {
      for (const container of containersOf(deployment)) {
        if (!container.livenessProbe || !container.readinessProbe) missing.push(id(deployment, container));
      }
    }
    expect(missing).toEqual([]);
    for (const name of services) {
      const container = containersOf(named(objects, "Deployment", name)!)[0];
      const opsPortName = container.ports.find((port: any) => port.containerPort === opsPort)?.name;
      expect(container.livenessProbe.httpGet).toEqual({ path: "/health/live", port: opsPortName });
      expect(container.readinessProbe.httpGet).toEqual({ path: "/health/ready", port: opsPortName });
      expect(config.OPS_PORT).toBe(String(opsPort));
      expect(config.OPS_HOST).toBe("0.0.0.0"); // the kubelet probes the pod's address, not its loopback
    }
  });

  it("gives every container requests, limits and the hardened securityContext", () => {
    const problems: string[] = [];
    for (const workload of workloads(objects)) {
      const pod = podSpecOf(workload);
      for (const container of containersOf(workload)) {
        const where = id(workload, container);
        const { requests, limits } = container.resources ?? {};
        if (!requests?.cpu || !requests?.memory || !limits?.cpu || !limits?.memory) problems.push(`${where}: requests and limits`);
        const security = container.securityContext ?? {};
        if (security.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation`);
        if (security.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem`);
        if (security.privileged === true) problems.push(`${where}: privileged`);
        if (!(security.runAsNonRoot ?? pod.securityContext?.runAsNonRoot)) problems.push(`${where}: runAsNonRoot`);
        if ((security.runAsUser ?? pod.securityContext?.runAsUser) === 0) problems.push(`${where}: runAsUser 0`);
        if (!security.capabilities?.drop?.includes("ALL") || security.capabilities?.add?.length) problems.push(`${where}: capabilities`);
      }
    }
    expect(problems).toEqual([]);
    for (const name of services) expect(containersOf(named(objects, "Deployment", name)!)[0].resources).toEqual(guideResources);
  });

  it("mounts writable volumes where the platform writes: DATA_DIR and /tmp", () => {
    for (const workload of workloads(objects).filter((object) => object.metadata.name !== "database-check")) {
      const mounts = containersOf(workload)[0].volumeMounts.map((mount: any) => mount.mountPath);
      expect(mounts, id(workload)).toEqual(expect.arrayContaining(["/var/lib/azora", "/tmp"]));
    }
  });

  it("lets a pod drain before the kubelet kills it", () => {
    const drainSeconds = Number(config.SHUTDOWN_TIMEOUT_MS ?? 15_000) / 1000;
    for (const name of services) {
      const deployment = named(objects, "Deployment", name)!;
      const preStop = containersOf(deployment)[0].lifecycle?.preStop?.exec?.command ?? [];
      const preStopSeconds = preStop[0] === "sleep" ? Number(preStop[1]) : 0;
      expect(deployment.spec.template.spec.terminationGracePeriodSeconds, name).toBeGreaterThan(preStopSeconds + drainSeconds);
      expect(deployment.spec.strategy.rollingUpdate.maxUnavailable, name).toBe(0);
    }
  });

  it("autoscales each service exactly as the guide: 3 to 20 replicas, CPU 70 %, memory 80 %", () => {
    for (const name of services) {
      const hpa = named(objects, "HorizontalPodAutoscaler", `${name}-hpa`);
      expect(hpa?.spec).toEqual({
        scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name },
        minReplicas: 3,
        maxReplicas: 20,
        metrics: [
          { type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } } },
          { type: "Resource", resource: { name: "memory", target: { type: "Utilization", averageUtilization: 80 } } },
        ],
      });
    }
  });

  it("keeps every PodDisruptionBudget below its HPA's minimum and on the service's pods", () => {
    const budgets = objects.filter((object) => object.kind === "PodDisruptionBudget");
    expect(budgets.map((budget) => budget.metadata.name).sort()).toEqual([...services].sort());
    for (const budget of budgets) {
      const deployment = objects.find((object) => object.kind === "Deployment" && selects(budget.spec.selector.matchLabels, podLabelsOf(object)));
      expect(deployment, budget.metadata.name).toBeDefined();
      const hpa = objects.find((object) => object.kind === "HorizontalPodAutoscaler" && object.spec.scaleTargetRef.name === deployment?.metadata.name);
      expect(budget.spec.minAvailable).toBeLessThan(hpa?.spec.minReplicas);
    }
  });

  it("matches every selector to pod labels", () => {
    const podLabels = workloads(objects).map(podLabelsOf);
    for (const deployment of objects.filter((object) => object.kind === "Deployment")) {
      expect(selects(deployment.spec.selector.matchLabels, podLabelsOf(deployment)), id(deployment)).toBe(true);
    }
    for (const service of objects.filter((object) => object.kind === "Service" && object.spec.type !== "ExternalName")) {
      expect(podLabels.some((labels) => selects(service.spec.selector, labels)), id(service)).toBe(true);
    }
    for (const policy of objects.filter((object) => object.kind === "NetworkPolicy")) {
      const selector = policy.spec.podSelector.matchLabels;
      if (selector) expect(podLabels.some((labels) => selects(selector, labels)), id(policy)).toBe(true);
    }
  });

  it("pins every image to one release tag", () => {
    const images = workloads(objects).flatMap((workload) => containersOf(workload).map((container) => container.image as string));
    const tags = new Set<string>();
    for (const image of images) {
      const match = /^azora\/(api-gateway|auth-service|user-service):([\w][\w.-]{0,127})$/.exec(image);
      expect(match, image).not.toBeNull();
      expect(match?.[2]).not.toBe("latest");
      tags.add(match![2]!);
    }
    expect(tags.size).toBe(1);
  });

  it("exposes no ops port through a Service or an Ingress", () => {
    const portNames = new Set(["ops"]);
    for (const service of objects.filter((object) => object.kind === "Service")) {
      for (const port of service.spec.ports ?? []) {
        expect([port.port, port.targetPort], id(service)).not.toContain(opsPort);
        expect(portNames.has(port.targetPort) || portNames.has(port.name), id(service)).toBe(false);
      }
      expect(service.spec.type === "LoadBalancer" || service.spec.type === "NodePort", id(service)).toBe(false);
    }
    for (const ingress of objects.filter((object) => object.kind === "Ingress")) {
      for (const rule of ingress.spec.rules) {
        for (const path of rule.http.paths) {
          expect(path.backend.service.name).toBe("api-gateway");
          expect(path.backend.service.port).toEqual({ name: "http" });
        }
      }
    }
  });

  it("lets only the gateway reach the services, and only Prometheus reach the ops ports", () => {
    const policies = objects.filter((object) => object.kind === "NetworkPolicy");
    expect(policies.some((policy) => Object.keys(policy.spec.podSelector).length === 0 && policy.spec.policyTypes.includes("Ingress") && !policy.spec.ingress)).toBe(true);
    for (const policy of policies) {
      for (const rule of policy.spec.ingress ?? []) {
        const ports = (rule.ports ?? []).map((port: any) => port.port);
        if (ports.includes(opsPort) || ports.length === 0) {
          expect(rule.from, `${id(policy)} opens the ops port`).toEqual([{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }]);
        }
      }
    }
    for (const [service, allowed] of [["auth-service", ["api-gateway", "user-service"]], ["user-service", ["api-gateway"]]] as const) {
      const sources = policies
        .filter((policy) => selects(policy.spec.podSelector.matchLabels, { "app.kubernetes.io/name": service }))
        .flatMap((policy) => (policy.spec.ingress ?? []).filter((rule: any) => rule.ports?.some((port: any) => port.port === 8080)))
        .flatMap((rule: any) => rule.from ?? [{ anywhere: true }]);
      expect(sources).toEqual(allowed.map((name) => ({ podSelector: { matchLabels: { "app.kubernetes.io/name": name } } })));
    }
  });

  it("runs only real azora commands: the services, migrate and the backups", async () => {
    const commands = workloads(objects)
      .filter((workload) => !containersOf(workload)[0].command)
      .map((workload) => containersOf(workload)[0].args as string[]);
    expect(commands).toEqual(expect.arrayContaining([["serve", "gateway"], ["serve", "auth"], ["serve", "users"], ["migrate"], ["backup", "full"]]));
    for (const args of commands) {
      if (args[0] === "serve") expect(["gateway", "auth", "users"]).toContain(args[1]);
      const help = await azora([...args, "--help"]);
      expect(help.code, args.join(" ")).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`Usage: azora ${args[0]}`));
    }
  });
});
