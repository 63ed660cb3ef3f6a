/** Uploads bytes as multipart/form-data (field "file" unless told otherwise), as a browser form would. */
export async function uploadFile(
  baseUrl: string,
  token: string,
  contentId: string,
  file: { bytes: Uint8Array; filename: string; type?: string; field?: string },
): Promise<{ status: number; body: any; headers: Headers }> {
  const form = new FormData();
  form.append(file.field ?? "file", new Blob([file.bytes], { type: file.type ?? "application/octet-stream" }), file.filename);
  const response = await fetch(new URL(`/api/content/${contentId}/attachments`, baseUrl), {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
    body: form,
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON: keep the text.
  }
  return { status: response.status, body, headers: response.headers };
}

/** Downloads an attachment's bytes and headers. */
export async function downloadFile(baseUrl: string, token: string, path: string): Promise<{ status: number; bytes: Buffer; headers: Headers }> {
  const response = await fetch(new URL(path, baseUrl), { headers: { authorization: `Bearer ${token}` } });
  return { status: response.status, bytes: Buffer.from(await response.arrayBuffer()), headers: response.headers };
}

/** A small valid PNG header followed by filler: enough for the sniffer. */
export const pngBytes = () => Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from("IHDR-and-some-filler")]);
