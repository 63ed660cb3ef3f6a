import { spawnSync, type ChildProcess } from "node:child_process";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { freePort, spawnPinned, waitForHttp } from "./children.ts";

/**
 * The reference proxy: one nginx worker with upstream keep-alive, no access log, everything
 * (config, pid, error log, temp files) inside its own directory.
 */
function nginxConf(listenPort: number, upstreamPort: number): string {
  return `worker_processes 1;
pid nginx.pid;
error_log error.log warn;

events {
  worker_connections 4096;
}

http {
  access_log off;
  client_body_temp_path temp/client_body;
  proxy_temp_path temp/proxy;
  fastcgi_temp_path temp/fastcgi;
  uwsgi_temp_path temp/uwsgi;
  scgi_temp_path temp/scgi;

  upstream echo {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
  }

  server {
    listen 127.0.0.1:${listenPort};
    location / {
      proxy_pass http://echo;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

export interface RunningNginx {
  child: ChildProcess;
  url: string;
  dir: string;
}

/** Starts nginx in the foreground, pinned to `cpus`, in front of 127.0.0.1:upstreamPort. */
export async function startNginx(options: { dir: string; upstreamPort: number; cpus: string }): Promise<RunningNginx> {
  const dir = options.dir;
  await mkdir(join(dir, "temp"), { recursive: true });
  // The worker drops root privileges: it must still be able to enter the prefix.
  await chmod(dir, 0o755);
  const port = await freePort();
  await writeFile(join(dir, "nginx.conf"), nginxConf(port, options.upstreamPort));
  const child = spawnPinned(
    options.cpus,
    "nginx",
    ["-p", `${dir}/`, "-e", join(dir, "error.log"), "-c", "nginx.conf", "-g", "daemon off;"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/`, 10_000, () => child.exitCode === null && child.signalCode === null);
  } catch (error) {
    const log = await readFile(join(dir, "error.log"), "utf8").catch(() => "");
    throw new Error(`nginx did not start: ${(error as Error).message}\n${stderr}${log}`);
  }
  return { child, url, dir };
}

export function nginxVersion(): string {
  const result = spawnSync("nginx", ["-v"], { encoding: "utf8" });
  return (result.stderr || result.stdout || "").trim();
}
