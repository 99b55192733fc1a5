// The role and command tables. One row per role; `./node --help` is generated from them.

import { brokerRole } from "../broker/broker_role.ts";
import { statsCommand } from "../broker/stats_command.ts";
import { backupRole } from "../mapreduce/backup_role.ts";
import { coordinatorRole } from "../mapreduce/coordinator_role.ts";
import { mapreduceCommand } from "../mapreduce/mapreduce_command.ts";
import { workerRole } from "../mapreduce/worker_role.ts";
import { leaderRole } from "../mutex/leader_role.ts";
import { runCommand } from "../mutex/run_mutex_command.ts";
import { slaveRole } from "../mutex/slave_role.ts";
import type { CommandSpec, RoleSpec } from "./role.ts";

export const roles: readonly RoleSpec[] = [brokerRole, coordinatorRole, backupRole, workerRole, leaderRole, slaveRole];

export const commands: readonly CommandSpec[] = [statsCommand, runCommand, mapreduceCommand];
