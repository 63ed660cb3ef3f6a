import cliProgress from "cli-progress";
import type { ProgressUpdate } from "../platform/command.ts";

/** Progress on a terminal: a bar on stderr when it is a TTY, plain "[2/5] label" lines otherwise (logs, pipes, CI). */
export function terminalProgress(stream: NodeJS.WriteStream = process.stderr): (update: ProgressUpdate) => void {
  if (!stream.isTTY) return (update) => stream.write(`[${update.done}/${update.total}] ${update.label}\n`);
  let bar: cliProgress.SingleBar | undefined;
  return (update) => {
    if (!bar) {
      bar = new cliProgress.SingleBar({ stream, format: "{bar} {value}/{total} {label}", hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic);
      bar.start(update.total, update.done, { label: update.label });
    } else bar.update(update.done, { label: update.label });
    if (update.done >= update.total) {
      bar.stop();
      bar = undefined;
    }
  };
}
