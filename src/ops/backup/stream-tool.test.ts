import { describe, expect, it } from "vitest";
import { streamTool, ToolError } from "./postgres-tools.ts";

const env = { PATH: process.env.PATH };
const collect = async (stream: NodeJS.ReadableStream) => {
  let text = "";
  for await (const chunk of stream) text += String(chunk);
  return text;
};

/** A tool's standard output consumed while it runs (pg_dump → seal → file): both must succeed, and a failure says whose. */
describe("streamTool", () => {
  it("hands the output to the consumer and returns what it made", async () => {
    expect(await streamTool("sh", ["-c", "printf 'one '; printf 'two'"], env, collect)).toBe("one two");
  });

  it("a tool that fails after writing part of its output is a ToolError with its own message, not a short result", async () => {
    const failed = streamTool("sh", ["-c", "printf partial; echo 'connection lost' >&2; exit 3"], env, collect);
    await expect(failed).rejects.toThrow(ToolError);
    await expect(failed).rejects.toThrow(/sh failed \(exit 3\): connection lost/);
  });

  it("a consumer that fails stops the tool and its own error is reported", async () => {
    const failed = streamTool("sh", ["-c", "while :; do echo data; done"], env, async (stream) => {
      for await (const _chunk of stream) throw new Error("no space left on device");
    });
    // It settles only once the endless tool has exited: had it been left running, the test would time out.
    await expect(failed).rejects.toThrow("no space left on device");
  });
});
