// The production infrastructure, checked without a cloud: every .tf parses (@cdktf/hcl2json) and holds what
// a reviewer asks for. `terraform fmt -check` runs where terraform is on PATH; `terraform validate` also
// needs the providers, which `terraform init` must fetch from the Terraform registry.
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/cli.ts";
import { parseHcl } from "../helpers/hcl.ts";
import { hasTool } from "../helpers/tools.ts";

const dir = join(repoRoot, "deployment", "infrastructure");
const files = readdirSync(dir).filter((file) => file.endsWith(".tf"));
type Block = Record<string, any>;
/** Every top-level block of every file, merged: { resource: { type: { name: [body] } }, variable: {…}, … }. */
let tf: Record<string, Record<string, any>> = {};
const sources = files.map((file) => readFileSync(join(dir, file), "utf8")).join("\n");

const resource = (type: string): Block[] => Object.values(tf.resource?.[type] ?? {}).flat() as Block[];
const only = (type: string): Block => {
  const blocks = resource(type);
  expect(blocks, type).toHaveLength(1);
  return blocks[0]!;
};

beforeAll(async () => {
  for (const file of files) {
    const parsed = (await parseHcl(file, readFileSync(join(dir, file), "utf8"))) as Record<string, Record<string, any>>;
    for (const [kind, blocks] of Object.entries(parsed)) {
      if (Array.isArray(blocks)) tf[kind] = [...((tf[kind] as unknown as unknown[]) ?? []), ...blocks] as never;
      else tf[kind] = { ...tf[kind], ...Object.fromEntries(Object.entries(blocks).map(([key, value]) => [key, { ...(tf[kind]?.[key] ?? {}), ...(value as object) }])) };
    }
  }
});

describe("deployment/infrastructure", () => {
  it("parses every file", () => {
    expect(files).toEqual(expect.arrayContaining(["versions.tf", "variables.tf", "network.tf", "kubernetes.tf", "database.tf", "redis.tf", "storage.tf", "outputs.tf"]));
    expect(Object.keys(tf)).toEqual(expect.arrayContaining(["resource", "variable", "output", "locals"]));
  });

  it("takes environment = staging | production and refuses anything else", () => {
    const environment = tf.variable?.environment?.[0];
    expect(environment.default).toBeUndefined(); // the guide always says -var="environment=…"
    expect(environment.validation[0].condition).toMatch(/contains\(\["staging", "production"\], var\.environment\)/);
  });

  it("declares every variable it uses, and describes each", () => {
    const used = new Set([...sources.matchAll(/\bvar\.([a-z_][a-z0-9_]*)/g)].map((match) => match[1]));
    const declared = Object.keys(tf.variable ?? {});
    expect([...used].filter((name) => !declared.includes(name!))).toEqual([]);
    for (const name of declared) expect(tf.variable![name][0].description, name).toBeTruthy();
  });

  it("holds no secret: no literal password, token or key, nothing that looks like an access key", () => {
    expect(sources).not.toMatch(/AKIA[0-9A-Z]{16}/);
    expect(sources).not.toMatch(/-----BEGIN [A-Z ]*PRIVATE KEY-----/);
    const secretNamed = /(password|secret|token|access_key)$/i;
    const literals: string[] = [];
    const walk = (value: unknown, path: string) => {
      if (Array.isArray(value)) value.forEach((item, index) => walk(item, `${path}[${index}]`));
      else if (value && typeof value === "object") for (const [key, inner] of Object.entries(value)) walk(inner, `${path}.${key}`);
      else if (typeof value === "string" && secretNamed.test(path.split(".").at(-1)!) && !/^\$\{.*\}$/.test(value)) literals.push(path);
    };
    walk(tf.resource, "resource");
    walk(tf.variable, "variable");
    expect(literals).toEqual([]);
    expect(only("aws_db_instance").manage_master_user_password).toBe(true);
  });

  it("encrypts everything at rest (and Redis in transit)", () => {
    const db = only("aws_db_instance");
    expect(db.storage_encrypted).toBe(true);
    expect(db.kms_key_id).toMatch(/aws_kms_key\./);
    const redis = only("aws_elasticache_replication_group");
    expect(redis.at_rest_encryption_enabled).toBe(true);
    expect(redis.transit_encryption_enabled).toBe(true);
    const sse = only("aws_s3_bucket_server_side_encryption_configuration");
    expect(sse.for_each).toBe("${aws_s3_bucket.platform}"); // every bucket
    expect(sse.rule[0].apply_server_side_encryption_by_default[0].sse_algorithm).toBe("aws:kms");
    expect(only("aws_eks_cluster").encryption_config[0].resources).toEqual(["secrets"]);
    expect(only("aws_kms_key").enable_key_rotation).toBe(true);
  });

  it("keeps production from being deleted, and recovers PostgreSQL to a point in time", () => {
    expect(tf.locals?.find((block: Block) => "production" in block)?.production).toBe('${var.environment == "production"}');
    const db = only("aws_db_instance");
    expect(db.deletion_protection).toBe("${local.production}");
    expect(db.skip_final_snapshot).toBe("${!local.production}");
    expect(db.backup_retention_period).toMatch(/^\$\{local\.production \? \d+ : \d+\}$/);
    expect(Math.min(...[...db.backup_retention_period.matchAll(/\d+/g)].map(Number))).toBeGreaterThan(0);
    expect(db.publicly_accessible).toBe(false);
    expect(only("aws_s3_bucket").force_destroy).toBe("${!local.production}");
  });

  it("versions every bucket, blocks public access and expires what is old", () => {
    expect(Object.keys(tf.locals?.find((block: Block) => "buckets" in block)?.buckets ?? {}).sort()).toEqual(["backups", "blobs"]);
    expect(only("aws_s3_bucket_versioning").versioning_configuration[0].status).toBe("Enabled");
    const access = only("aws_s3_bucket_public_access_block");
    for (const flag of ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"]) expect(access[flag], flag).toBe(true);
    const lifecycle = only("aws_s3_bucket_lifecycle_configuration");
    expect(lifecycle.for_each).toBe("${aws_s3_bucket.platform}");
    expect(lifecycle.rule[0].noncurrent_version_expiration).toBeDefined();
  });

  it("outputs what the platform's configuration and the overlays need", () => {
    const outputs = Object.keys(tf.output ?? {});
    expect(outputs).toEqual(
      expect.arrayContaining(["database_host", "database_port", "database_name", "database_password_secret_arn", "redis_host", "redis_auth_token_secret_arn", "s3_region", "blobs_bucket", "backups_bucket", "kubernetes_namespace", "cluster_name"]),
    );
  });
});

const terraform = hasTool("terraform");
if (!terraform) console.log("terraform fmt/validate skipped: terraform is not on PATH (it is not in Debian's or npm's registries)");

describe.skipIf(!terraform)("terraform", () => {
  it("finds every file formatted (terraform fmt -check)", () => {
    const result = spawnSync("terraform", ["fmt", "-check", "-recursive", dir], { encoding: "utf8" });
    expect(result.stdout, "files terraform fmt would rewrite").toBe("");
    expect(result.status).toBe(0);
  });

  it("validates the configuration where the providers can be installed", () => {
    const scratch = mkdtempSync(join(tmpdir(), "azora-terraform-"));
    try {
      cpSync(dir, scratch, { recursive: true });
      const init = spawnSync("terraform", ["init", "-backend=false", "-input=false", "-no-color"], { cwd: scratch, encoding: "utf8", timeout: 300_000 });
      if (init.status !== 0) {
        // Providers come only from the Terraform registry; where it is unreachable, say so and stop here.
        console.log(`terraform validate not run: terraform init could not install the providers (${/could not connect[^\n]*/.exec(init.stderr)?.[0] ?? init.stderr.trim().split("\n")[0]})`);
        return;
      }
      const validate = spawnSync("terraform", ["validate", "-no-color"], { cwd: scratch, encoding: "utf8", timeout: 300_000 });
      expect(validate.stdout + validate.stderr).toMatch(/Success/);
      expect(validate.status).toBe(0);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
