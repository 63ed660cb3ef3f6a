import { execFile } from "node:child_process";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { outcome, type AuditFinding, type CheckOutcome } from "./finding.ts";

const run = promisify(execFile);

interface Container {
  name?: string;
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; runAsNonRoot?: boolean; privileged?: boolean; capabilities?: { drop?: string[] } };
}
interface PodSpec {
  securityContext?: { runAsNonRoot?: boolean };
  containers?: Container[];
  initContainers?: Container[];
}

function podSpecOf(object: Record<string, any>): PodSpec | undefined {
  if (object.kind === "CronJob") return object.spec?.jobTemplate?.spec?.template?.spec;
  if (["Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"].includes(object.kind)) return object.spec?.template?.spec;
  if (object.kind === "Pod") return object.spec;
  return undefined;
}

/** What each container must have: no root, no privilege escalation, a read-only root, every capability dropped. */
function containerProblems(pod: PodSpec, container: Container): string[] {
  const context = container.securityContext ?? {};
  const problems: string[] = [];
  if (context.privileged) problems.push("privileged: true");
  if (context.allowPrivilegeEscalation !== false) problems.push("allowPrivilegeEscalation is not false");
  if (context.readOnlyRootFilesystem !== true) problems.push("readOnlyRootFilesystem is not true");
  if (context.runAsNonRoot !== true && pod.securityContext?.runAsNonRoot !== true) problems.push("runAsNonRoot is not true");
  if (!(context.capabilities?.drop ?? []).map((name) => name.toUpperCase()).includes("ALL")) problems.push("capabilities.drop does not include ALL");
  return problems;
}

/** Renders each overlay with `kubectl kustomize` (offline: no cluster needed) and checks every pod template's securityContext. */
export async function kubernetesChecks(kubernetesDir: string): Promise<CheckOutcome> {
  const overlaysDir = join(kubernetesDir, "overlays");
  const overlays = await readdir(overlaysDir).catch(() => undefined);
  if (!overlays) return outcome([], [{ check: "kubernetes_security_context", reason: `${overlaysDir} does not exist` }]);
  const findings: AuditFinding[] = [];
  for (const overlay of overlays.sort()) {
    let rendered: string;
    try {
      rendered = (await run("kubectl", ["kustomize", join(overlaysDir, overlay)], { timeout: 60_000, maxBuffer: 32 * 1024 * 1024 })).stdout;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const reason = code === "ENOENT" ? "kubectl is not installed (apt-get install kubernetes-client)" : `kubectl kustomize failed: ${((error as { stderr?: string }).stderr ?? "").split("\n")[0]}`;
      return outcome(findings, [{ check: "kubernetes_security_context", reason }]);
    }
    for (const document of parseAllDocuments(rendered)) {
      const object = document.toJS() as Record<string, any> | null;
      if (!object) continue;
      const pod = podSpecOf(object);
      if (!pod) continue;
      for (const container of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
        const problems = containerProblems(pod, container);
        if (problems.length === 0) continue;
        findings.push({
          check: "kubernetes_security_context",
          severity: "high",
          title: `${overlay}: ${object.kind}/${object.metadata?.name} container ${container.name} runs with too much privilege`,
          evidence: `kubectl kustomize overlays/${overlay}: ${problems.join("; ")}`,
          fix: "Give the container securityContext { runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: [ALL] } } (as deployment/kubernetes/base/api-gateway.yaml does).",
        });
      }
    }
  }
  return outcome(findings);
}
