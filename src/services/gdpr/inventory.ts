import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { z } from "zod";

/** The annotations, beside the migrations they describe. */
export const inventoryFile = fileURLToPath(new URL("../../../migrations/data-inventory.yaml", import.meta.url));

const categories = ["identifier", "contact", "identity", "credential", "content", "files", "usage", "pseudonymised", "none"] as const;
const tableSchema = z.strictObject({
  owner: z.string().min(1),
  purpose: z.string().min(1),
  retention: z.string().min(1).optional(),
  lawfulBasis: z.string().min(1).optional(),
  columns: z.record(z.string(), z.enum(categories)),
});
const annotationsSchema = z.record(z.string(), tableSchema);
export type Annotations = z.infer<typeof annotationsSchema>;

/** Reads and checks the annotation file; a malformed file is an error that names the problem. */
export async function loadAnnotations(path = inventoryFile): Promise<Annotations> {
  const parsed = annotationsSchema.safeParse(parse(await readFile(path, "utf8")));
  if (!parsed.success) {
    throw new Error(`${path} is malformed: ${parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")}`);
  }
  return parsed.data;
}

export interface InventoryTable {
  table: string;
  owner: string;
  purpose: string;
  retention: string | null;
  lawfulBasis: string | null;
  personal: { column: string; category: string }[];
  other: string[];
}

export interface Inventory {
  tables: InventoryTable[];
  /** Columns in the database with no annotation ("table.column"). */
  unannotated: string[];
  /** Annotations for columns the database does not have. */
  stale: string[];
  /** Tables holding personal data without a retention or a lawful basis. */
  incomplete: string[];
}

/** Joins the annotations with the columns the database really has. */
export function buildInventory(annotations: Annotations, columns: { table: string; column: string }[]): Inventory {
  const actual = new Map<string, string[]>();
  for (const { table, column } of columns) actual.set(table, [...(actual.get(table) ?? []), column]);
  const unannotated: string[] = [];
  const stale: string[] = [];
  const incomplete: string[] = [];
  const tables: InventoryTable[] = [];
  for (const [table, present] of [...actual].sort(([a], [b]) => a.localeCompare(b))) {
    const annotation = annotations[table];
    for (const column of present) if (!annotation?.columns[column]) unannotated.push(`${table}.${column}`);
    if (!annotation) continue;
    const personal = present.filter((column) => annotation.columns[column] && annotation.columns[column] !== "none").map((column) => ({ column, category: annotation.columns[column] as string }));
    if (personal.length > 0 && (!annotation.retention || !annotation.lawfulBasis)) incomplete.push(table);
    tables.push({
      table,
      owner: annotation.owner,
      purpose: annotation.purpose,
      retention: annotation.retention ?? null,
      lawfulBasis: annotation.lawfulBasis ?? null,
      personal,
      other: present.filter((column) => annotation.columns[column] === "none"),
    });
  }
  for (const [table, annotation] of Object.entries(annotations)) {
    for (const column of Object.keys(annotation.columns)) if (!actual.get(table)?.includes(column)) stale.push(`${table}.${column}`);
  }
  return { tables, unannotated, stale, incomplete };
}
