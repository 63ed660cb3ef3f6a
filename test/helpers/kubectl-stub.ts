// The one stand-in of the deploy tests, because no cluster can run here: a `kubectl` on PATH that records
// every call and keeps the objects it is given in a directory, seeded with a rendered overlay. It answers
// get/apply/create/delete/patch/set image/scale from that store (created objects get a uid, and
// `delete --raw` honours DeleteOptions' uid precondition as the API server does), succeeds at rollout and
// wait, and forwards ports to real local processes named by STUB_PORT_<remote port>. Faults, each for the
// calls whose arguments match a regular expression: STUB_FAIL (fails, with STUB_FAIL_MESSAGE; when
// STUB_FAIL_TIMES is set, only that many times for each distinct call) and STUB_HOLD (waits until the test
// calls release()).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { K8sObject } from "./kubernetes.ts";

const stubSource = String.raw`#!/usr/bin/env node
const fs = require("node:fs");
const path = require("node:path");
const dir = process.env.KUBECTL_STUB_DIR;
let args = process.argv.slice(2);
if (args[0] === "-n") args = args.slice(2);
const stdin = args[0] === "apply" || (args[0] === "delete" && args.includes("--raw")) ? fs.readFileSync(0, "utf8") : "";
fs.appendFileSync(path.join(dir, "calls.jsonl"), JSON.stringify({ args, stdin }) + "\n");
const matches = (pattern) => pattern && new RegExp(pattern).test(args.join(" "));
if (matches(process.env.STUB_HOLD)) while (!fs.existsSync(path.join(dir, "released"))) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
const failing = () => {
  if (!matches(process.env.STUB_FAIL)) return false;
  if (!process.env.STUB_FAIL_TIMES) return true;
  const counter = path.join(dir, "failed-" + require("node:crypto").createHash("sha1").update(args.filter((a) => !a.startsWith("--timeout=")).join(" ")).digest("hex"));
  const failed = fs.existsSync(counter) ? Number(fs.readFileSync(counter, "utf8")) : 0;
  if (failed >= Number(process.env.STUB_FAIL_TIMES)) return false;
  fs.writeFileSync(counter, String(failed + 1));
  return true;
};
const file = (kind, name) => path.join(dir, "objects", kind.toLowerCase() + "." + name + ".json");
const load = (kind, name) => (fs.existsSync(file(kind, name)) ? JSON.parse(fs.readFileSync(file(kind, name), "utf8")) : undefined);
// Written whole, then renamed: as from an API server, a read never sees half an object.
const save = (object) => { const target = file(object.kind, object.metadata.name); fs.writeFileSync(target + "." + process.pid, JSON.stringify(object)); fs.renameSync(target + "." + process.pid, target); };
const notFound = (kind, name) => { process.stderr.write('Error from server (NotFound): ' + kind + ' "' + name + '" not found\n'); process.exit(1); };
const [verb, ...rest] = args;
const kindOf = (word) => ({ deployment: "Deployment", service: "Service", configmap: "ConfigMap", job: "Job", namespace: "Namespace" })[word.split("/")[0]];
const merge = (target, patch) => { for (const [k, v] of Object.entries(patch)) { if (v === null) delete target[k]; else if (typeof v === "object" && !Array.isArray(v)) merge((target[k] ??= {}), v); else target[k] = v; } };
if (failing()) { process.stderr.write((process.env.STUB_FAIL_MESSAGE ?? "stub: failing as asked") + "\n"); process.exit(1); }
switch (verb) {
  case "get": { const object = load(kindOf(rest[0]), rest[1]); if (!object) notFound(rest[0], rest[1]); process.stdout.write(JSON.stringify(object)); break; }
  case "apply": { const doc = JSON.parse(stdin); save(doc); process.stdout.write(doc.kind.toLowerCase() + "/" + doc.metadata.name + " configured\n"); break; }
  case "create": {
    const name = rest[1];
    if (load("ConfigMap", name)) { process.stderr.write('Error from server (AlreadyExists): configmaps "' + name + '" already exists\n'); process.exit(1); }
    const data = Object.fromEntries(rest.filter((a) => a.startsWith("--from-literal=")).map((a) => { const [k, ...v] = a.slice(15).split("="); return [k, v.join("=")]; }));
    save({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, uid: require("node:crypto").randomUUID() }, data });
    break;
  }
  case "delete": if (rest[0] === "--raw") {
    const name = rest[1].split("/").pop();
    const object = load("ConfigMap", name);
    if (!object) notFound("configmaps", name);
    const uid = JSON.parse(stdin || "{}").preconditions?.uid;
    if (uid && uid !== object.metadata.uid) { process.stderr.write('Error from server (Conflict): Operation cannot be fulfilled on configmaps "' + name + '": Precondition failed: UID in precondition: ' + uid + ', UID in object meta: ' + object.metadata.uid + "\n"); process.exit(1); }
    fs.rmSync(file("ConfigMap", name));
    process.stdout.write(JSON.stringify({ kind: "Status", status: "Success" }));
    break;
  } else { const kind = kindOf(rest[0]); if (load(kind, rest[1])) fs.rmSync(file(kind, rest[1])); else if (!rest.includes("--ignore-not-found")) notFound(rest[0], rest[1]); break; }
  case "patch": { const object = load(kindOf(rest[0]), rest[1]); merge(object, JSON.parse(rest[rest.indexOf("-p") + 1])); save(object); break; }
  case "set": { const [, target, assignment] = rest; const object = load("Deployment", target.split("/")[1]); object.spec.template.spec.containers[0].image = assignment.split("=")[1]; save(object); break; }
  case "scale": { const object = load("Deployment", rest[0].split("/")[1]); object.spec.replicas = Number(rest[1].split("=")[1]); save(object); break; }
  case "rollout": case "wait": process.stdout.write("stub: done\n"); break;
  case "port-forward": {
    const remote = rest[1].replace(/^:/, "");
    process.stdout.write("Forwarding from 127.0.0.1:" + process.env["STUB_PORT_" + remote] + " -> " + remote + "\n");
    setInterval(() => undefined, 1 << 30);
    break;
  }
  default: process.stderr.write("stub: unexpected kubectl " + args.join(" ") + "\n"); process.exit(1);
}
`;

export interface KubectlStub {
  /** Put first on PATH. */
  binDir: string;
  env: Record<string, string>;
  /** Every call so far, as kubectl received it (without -n NAMESPACE). */
  calls(): { args: string[]; stdin: string }[];
  object(kind: string, name: string): K8sObject | undefined;
  put(object: K8sObject): void;
  remove(kind: string, name: string): void;
  clearCalls(): void;
  /** Lets every call held by STUB_HOLD go on (and later ones pass at once). */
  release(): void;
  dispose(): void;
}

/** A stub kubectl whose store starts as the given objects (a rendered overlay). */
export function kubectlStub(objects: K8sObject[]): KubectlStub {
  const dir = mkdtempSync(join(tmpdir(), "azora-kubectl-stub-"));
  const binDir = join(dir, "bin");
  mkdirSync(binDir);
  mkdirSync(join(dir, "objects"));
  writeFileSync(join(binDir, "kubectl"), stubSource, { mode: 0o755 });
  const file = (kind: string, name: string) => join(dir, "objects", `${kind.toLowerCase()}.${name}.json`);
  const put = (object: K8sObject) => writeFileSync(file(object.kind, object.metadata.name), JSON.stringify(object));
  for (const object of objects) put(object);
  writeFileSync(join(dir, "calls.jsonl"), "");
  return {
    binDir,
    env: { KUBECTL_STUB_DIR: dir },
    calls: () =>
      readFileSync(join(dir, "calls.jsonl"), "utf8")
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { args: string[]; stdin: string }),
    object(kind, name) {
      try {
        return JSON.parse(readFileSync(file(kind, name), "utf8")) as K8sObject;
      } catch {
        return undefined;
      }
    },
    put,
    remove: (kind, name) => rmSync(file(kind, name), { force: true }),
    clearCalls: () => writeFileSync(join(dir, "calls.jsonl"), ""),
    release: () => writeFileSync(join(dir, "released"), ""),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A scratch git repository with the given release tags: the deploy commands accept only tagged versions. */
export function releaseRepo(tags: string[]): { dir: string; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), "azora-releases-"));
  const git = (...args: string[]) => execFileSync("git", ["-c", "user.name=Release", "-c", "user.email=release@example.com", ...args], { cwd: dir, stdio: "ignore" });
  git("init", "-q");
  git("commit", "-q", "--allow-empty", "-m", "release");
  for (const tag of tags) git("tag", tag);
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}
