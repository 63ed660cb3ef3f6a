/**
 * The server side of the benchmark: `gateway.bench.ts --serve ROLE` runs here, pinned by the parent to the
 * server core. It prints one JSON line (its URLs) when it is ready, and stops on SIGTERM, SIGINT or when
 * the parent goes away (its stdin closes).
 */
export interface ServingRole {
  info: Record<string, unknown>;
  stop(): Promise<void>;
}

export async function serve(argv: string[]): Promise<void> {
  const [role, ...rest] = argv;
  const flags = new Map<string, string>();
  for (let i = 0; i < rest.length; i += 2) flags.set(rest[i] ?? "", rest[i + 1] ?? "");

  let serving: ServingRole;
  if (role === "echo") {
    serving = await (await import("./serve-echo.ts")).startEcho();
  } else if (role === "proxy") {
    const echoUrl = flags.get("--echo");
    if (!echoUrl) throw new Error("--serve proxy needs --echo URL");
    serving = await (await import("./serve-proxy.ts")).startNodeProxy(echoUrl);
  } else if (role === "platform") {
    const echoUrl = flags.get("--echo");
    const dataDir = flags.get("--data-dir");
    if (!echoUrl || !dataDir) throw new Error("--serve platform needs --echo URL and --data-dir DIR");
    serving = await (await import("./serve-platform.ts")).startBenchPlatform({ echoUrl, dataDir });
  } else {
    throw new Error(`unknown role "${role}" (echo, proxy or platform)`);
  }

  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    // Bounded: whatever happens, the process is gone within ten seconds (and --cpu-prof gets written on exit).
    setTimeout(() => process.exit(0), 10_000).unref();
    serving.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
  process.stdin.on("end", shutdown);
  process.stdin.on("close", shutdown);
  process.stdin.resume();

  process.stdout.write(`${JSON.stringify({ role, pid: process.pid, ...serving.info })}\n`);
}
