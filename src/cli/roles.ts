// The role and command tables. One row per role; `./node --help` is generated from them.

import { brokerRole } from "../broker/broker_role.ts";
import { statsCommand } from "../broker/stats_command.ts";
import type { CommandSpec, RoleSpec } from "./role.ts";

export const roles: readonly RoleSpec[] = [brokerRole];

export const commands: readonly CommandSpec[] = [statsCommand];
