// @cdktf/hcl2json's type declarations pull the DOM library into the whole program (a triple-slash
// reference), which retypes Blob and fetch for every other file. Loading it by a name TypeScript does not
// resolve keeps those declarations out; the one function used is typed here.
const moduleName: string = "@cdktf/hcl2json";

/** Parses HCL (Terraform) into its JSON form, with Terraform's expression syntax kept as "${…}" strings. */
export async function parseHcl(fileName: string, source: string): Promise<Record<string, unknown>> {
  const { parse } = (await import(moduleName)) as { parse: (name: string, text: string) => Promise<Record<string, unknown>> };
  return parse(fileName, source);
}
