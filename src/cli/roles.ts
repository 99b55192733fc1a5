// The role and command tables. One row per role; `./node --help` is generated from them.

import { brokerRole } from "../broker/broker_role.ts";
import { statsCommand } from "../broker/stats_command.ts";
import { backupRole } from "../mapreduce/backup_role.ts";
import { coordinatorRole } from "../mapreduce/coordinator_role.ts";
import { mapreduceCommand } from "../mapreduce/mapreduce_command.ts";
import { workerRole } from "../mapreduce/worker_role.ts";
import { leaderRole } from "../mutex/leader_role.ts";
import { slaveRole } from "../mutex/slave_role.ts";
import { kvCommand } from "../storage/kv_command.ts";
import { storageRole } from "../storage/storage_role.ts";
import type { CommandSpec, RoleSpec } from "../runtime/role.ts";
import { runCommand } from "./run_command.ts";

export const roles: readonly RoleSpec[] = [brokerRole, coordinatorRole, backupRole, workerRole, leaderRole, slaveRole, storageRole];

export const commands: readonly CommandSpec[] = [statsCommand, runCommand, mapreduceCommand, kvCommand];
