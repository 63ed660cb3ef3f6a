import { createWriteStream } from "node:fs";
import { link, rm, stat } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { PassThrough } from "node:stream";
import { createGzip } from "node:zlib";
import { z } from "zod";
import type { CommandIO, PlatformCommand } from "../platform/command.ts";
import type { PlatformContext } from "../platform/context.ts";
import { cliActor, recordAudit } from "../platform/audit/audit.service.ts";
import { replayDeletionLedger } from "../services/gdpr/deletion-ledger.ts";
import { eraseSubject, type ErasureReport } from "../services/gdpr/erasure.ts";
import { writeExport } from "../services/gdpr/export.ts";
import { createGdprRepository, type Subject } from "../services/gdpr/gdpr.repository.ts";
import { buildInventory, loadAnnotations } from "../services/gdpr/inventory.ts";

const email = z.string().trim().toLowerCase().pipe(z.email());

async function findSubject(context: PlatformContext, address: string, io: CommandIO): Promise<Subject | undefined> {
  const subject = await createGdprRepository(context.db).findSubjectByEmail(address);
  if (!subject) io.err(`No account with the email ${address}. Check the address (azora looks it up in lower case); nothing was changed.`);
  return subject;
}

const exportArgs = z.object({ email, out: z.string().min(1), json: z.boolean().default(false) });
export type GdprExportArgs = z.input<typeof exportArgs>;

/** `azora gdpr export EMAIL --out FILE`: everything about the person in one .tar.gz with a manifest and checksums. */
export const gdprExportCommand: PlatformCommand<GdprExportArgs> = {
  name: "gdpr export",
  async run(context, rawArgs, io) {
    const parsed = exportArgs.safeParse(rawArgs);
    if (!parsed.success) {
      io.err("Give the person's email address, e.g. azora gdpr export jane@example.com --out jane.tar.gz");
      return 2;
    }
    const { out, json } = parsed.data;
    const subject = await findSubject(context, parsed.data.email, io);
    if (!subject) return 1;
    if (await stat(out).then(() => true, () => false)) {
      io.err(`${out} already exists; choose another --out (an export never overwrites a file).`);
      return 1;
    }
    // Written beside the target and linked into place when complete: a failed export leaves no archive that looks whole.
    const partial = `${out}.partial-${process.pid}`;
    try {
      const tar = new PassThrough();
      const written = pipeline(tar, createGzip(), createWriteStream(partial, { flags: "wx", mode: 0o600 }));
      let report: Awaited<ReturnType<typeof writeExport>>;
      try {
        report = await writeExport(context, subject, tar, "operator");
        tar.end();
      } catch (error) {
        tar.destroy();
        await written.catch(() => undefined);
        throw error;
      }
      await written;
      await link(partial, out);
      const size = (await stat(out)).size;
      if (json) io.out(JSON.stringify({ file: out, archiveBytes: size, ...report }));
      else io.out(`Exported ${subject.email} to ${out} (${size} bytes: ${report.files} files, ${report.content} content items, ${report.attachments} attachments, ${report.events} log events; check with manifest.json or sha256sum -c SHA256SUMS).`);
      return 0;
    } finally {
      await rm(partial, { force: true });
    }
  },
};

const deleteArgs = z.object({ email, dryRun: z.boolean().default(false), yes: z.boolean().default(false), json: z.boolean().default(false) });
export type GdprDeleteArgs = z.input<typeof deleteArgs>;

/** `azora gdpr delete EMAIL --dry-run|--yes`: the right to erasure, recorded in the deletion ledger. */
export const gdprDeleteCommand: PlatformCommand<GdprDeleteArgs> = {
  name: "gdpr delete",
  async run(context, rawArgs, io) {
    const parsed = deleteArgs.safeParse(rawArgs);
    if (!parsed.success) {
      io.err("Give the person's email address, e.g. azora gdpr delete jane@example.com --dry-run");
      return 2;
    }
    const { dryRun, yes, json } = parsed.data;
    if (!dryRun && !yes) {
      io.err("Erasure cannot be undone: run with --dry-run to see what would go, then with --yes to erase.");
      return 2;
    }
    const subject = await findSubject(context, parsed.data.email, io);
    if (!subject) return 1;
    const report = await eraseSubject(context, subject, { dryRun, requestedBy: "operator" });
    if (!dryRun) {
      // The target is the ledger's pseudonym: the user id the row would name no longer exists after this.
      await recordAudit(context, { actor: io.actor ?? cliActor(), action: "gdpr.erase", target: `subject:${report.pseudonym}`, details: { rows: report.rows, blobs: report.blobs, logLines: report.logLines } });
    }
    if (json) io.out(JSON.stringify(report));
    else for (const line of describeErasure(subject.email, report)) io.out(line);
    return 0;
  },
};

function describeErasure(address: string, report: ErasureReport): string[] {
  const { rows } = report;
  const what = `${rows.users} account, ${rows.content} content items, ${rows.attachments} attachments (${report.blobs} stored files), ${report.backupBlobs} files in content backups, ${rows.sessions} sessions, ${report.logLines} log lines in ${report.logFiles} files, ${report.mailFiles} mail files`;
  if (report.dryRun) return [`Dry run: erasing ${address} would remove ${what}. Nothing was changed; run again with --yes to erase.`];
  return [
    `Erased ${address}: removed ${what}.`,
    `Logs and the deletion ledger now name the person ${report.pseudonym}. Database backups taken before now still hold their rows (not their files); every restore replays the ledger and erases them again.`,
  ];
}

const replayArgs = z.object({ json: z.boolean().default(false) });

/** `azora gdpr replay-ledger`: erases again everyone in the deletion ledger (restores run it themselves). */
export const gdprReplayLedgerCommand: PlatformCommand<z.input<typeof replayArgs>> = {
  name: "gdpr replay-ledger",
  async run(context, rawArgs, io) {
    const { json } = replayArgs.parse(rawArgs);
    const report = await replayDeletionLedger(context);
    if (json) io.out(JSON.stringify(report));
    else io.out(`Deletion ledger: ${report.entries} erasures known, ${report.recorded} re-recorded, ${report.erasedAgain} accounts erased again, ${report.blobsRemoved} unreferenced files removed.`);
    return 0;
  },
};

const auditArgs = z.object({ json: z.boolean().default(false) });

/** `azora gdpr audit`: the data inventory from the annotations beside the schema, checked against the database. */
export const gdprAuditCommand: PlatformCommand<z.input<typeof auditArgs>> = {
  name: "gdpr audit",
  async run(context, rawArgs, io) {
    const { json } = auditArgs.parse(rawArgs);
    const inventory = buildInventory(await loadAnnotations(), await createGdprRepository(context.db).schemaColumns());
    const problems = [
      ...inventory.unannotated.map((column) => `${column} is not annotated: add it to migrations/data-inventory.yaml`),
      ...inventory.stale.map((column) => `${column} is annotated but not in the database: remove it from migrations/data-inventory.yaml (or run azora migrate)`),
      ...inventory.incomplete.map((table) => `${table} holds personal data but its annotation has no retention or lawfulBasis`),
    ];
    if (json) {
      io.out(JSON.stringify({ ...inventory, ok: problems.length === 0 }));
    } else {
      io.out("Data inventory (migrations/data-inventory.yaml, checked against the database):");
      for (const table of inventory.tables) {
        io.out("");
        io.out(`${table.table} (${table.owner})`);
        io.out(`  purpose:       ${table.purpose}`);
        if (table.personal.length > 0) {
          io.out(`  retention:     ${table.retention ?? "MISSING"}`);
          io.out(`  lawful basis:  ${table.lawfulBasis ?? "MISSING"}`);
          io.out(`  personal data: ${table.personal.map((column) => `${column.column} (${column.category})`).join(", ")}`);
        } else io.out("  personal data: none");
        if (table.other.length > 0) io.out(`  other columns: ${table.other.join(", ")}`);
      }
      const personalTables = inventory.tables.filter((table) => table.personal.length > 0);
      io.out("");
      io.out(`Personal data is held in ${personalTables.length} of ${inventory.tables.length} tables (${personalTables.reduce((total, table) => total + table.personal.length, 0)} columns).`);
      for (const problem of problems) io.err(`problem: ${problem}`);
    }
    return problems.length === 0 ? 0 : 1;
  },
};
