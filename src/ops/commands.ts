import type { PlatformCommand } from "../platform/command.ts";
import { migrateCommand } from "./migrate.ts";
import { setRoleCommand } from "./user.ts";

/** Commands a running `azora up` may execute for a CLI in another process. */
export const platformCommands = [migrateCommand, setRoleCommand] as PlatformCommand[];
