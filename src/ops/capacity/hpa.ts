import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

/** The HPA file shipped with the manifests (one HorizontalPodAutoscaler per service). */
export const DEFAULT_HPA_FILE = fileURLToPath(new URL("../../../deployment/kubernetes/base/autoscaling.yaml", import.meta.url));

/** maxReplicas of the gateway's HorizontalPodAutoscaler in a manifest file; a message when there is none. */
export async function gatewayMaxReplicas(file: string): Promise<number | string> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    return `cannot read the HPA file ${file}`;
  }
  for (const document of parseAllDocuments(text)) {
    const value = document.toJS() as { kind?: string; spec?: { scaleTargetRef?: { name?: string }; maxReplicas?: unknown } } | null;
    if (value?.kind === "HorizontalPodAutoscaler" && value.spec?.scaleTargetRef?.name === "api-gateway" && typeof value.spec.maxReplicas === "number") return value.spec.maxReplicas;
  }
  return `no HorizontalPodAutoscaler for api-gateway with a maxReplicas in ${file}`;
}
