/*
 * bench/cgroup-isolation - the `noisy` scenario's pod model (NOISY_ISOLATION): the side under
 * test and the neighbours each in a cgroup of their own, as two pods on a Kubernetes node.
 *
 * Without it every process shares one cgroup and the kernel divides CPU per runnable thread, so
 * the hub's one JavaScript thread meets a CPU hog one to one while Postfix's twenty smtpd and
 * cleanup processes outnumber it. On a node each pod is a cgroup and CPU is divided by cgroup
 * weight (cpu.shares, from the pod's CPU request), however many processes a pod runs.
 *
 * cgroup v1 only (the cpu controller mounted at /sys/fs/cgroup/cpu, root): per run
 * /sys/fs/cgroup/cpu/relay-bench-<pid>/{subject,neighbour}, cpu.shares 1024 each (two pods with
 * equal requests); no quota, and no blkio throttling: only the CPU weight is modelled. The run's
 * directory plays kubelet's `kubepods` cgroup, whose cpu.shares are the node's allocatable CPUs
 * x 1024: without that, every other runnable process of the machine (all in the root cgroup)
 * would weigh as much as a whole pod. The load generator (smtp-source, the latency client) and
 * the harness stay where they are, like clients on another machine. Removal moves any process
 * left back to the root cgroup, then removes the directories.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const CPU_CGROUP_ROOT = '/sys/fs/cgroup/cpu';
/** cpu.shares of both groups: the kernel default, as two pods with equal CPU requests */
export const POD_SHARES = 1024;
/** cpu.shares of the run's directory, as kubelet gives `kubepods`: allocatable CPUs x 1024 (here every CPU of the machine) */
export const podsShares = (cpus: number): number => Math.max(2, Math.round(cpus * 1024));

export type IsolationMode = 'cgroup' | 'none';
export interface Isolation {
  mode: IsolationMode;
  /** why this mode: the variable, or what made it the default */
  why: string;
}
/** what the machine offers: checked once by probeIsolation, passed in so chooseIsolation stays pure */
export interface IsolationProbe {
  root: boolean;
  /** cpu.shares exists under CPU_CGROUP_ROOT (cgroup v1 cpu controller mounted there) */
  cpuController: boolean;
}

export function probeIsolation(root = CPU_CGROUP_ROOT): IsolationProbe {
  return { root: process.getuid?.() === 0, cpuController: fs.existsSync(path.join(root, 'cpu.shares')) };
}

/** chooseIsolation - NOISY_ISOLATION (cgroup | none), or cgroup when root with the v1 cpu controller, else none. */
export function chooseIsolation(value: string | undefined, probe: IsolationProbe): Isolation {
  const lacking = [...(probe.root ? [] : ['not root']), ...(probe.cpuController ? [] : [`no cgroup v1 cpu controller at ${CPU_CGROUP_ROOT}`])];
  const requested = value?.trim();
  if (requested === undefined || requested === '') {
    return lacking.length === 0
      ? { mode: 'cgroup', why: `default: root, cgroup v1 cpu controller at ${CPU_CGROUP_ROOT}` }
      : { mode: 'none', why: `default: ${lacking.join(', ')}` };
  }
  if (requested === 'none') return { mode: 'none', why: 'NOISY_ISOLATION=none' };
  if (requested !== 'cgroup') throw new Error(`NOISY_ISOLATION must be cgroup or none, got ${value}`);
  if (lacking.length > 0) throw new Error(`NOISY_ISOLATION=cgroup: ${lacking.join(', ')} (NOISY_ISOLATION=none runs without)`);
  return { mode: 'cgroup', why: 'NOISY_ISOLATION=cgroup' };
}

export type Group = 'subject' | 'neighbour';
export const GROUPS: readonly Group[] = ['subject', 'neighbour'];

/** cgroupPaths - the run's directory and one per group, named after the harness pid so runs never share one. */
export function cgroupPaths(pid: number, root = CPU_CGROUP_ROOT): { base: string } & Record<Group, string> {
  if (!Number.isInteger(pid) || pid < 1) throw new Error(`cgroupPaths: pid must be a positive integer, got ${pid}`);
  const base = path.join(root, `relay-bench-${pid}`);
  return { base, subject: path.join(base, 'subject'), neighbour: path.join(base, 'neighbour') };
}

export interface PodCgroups {
  paths: { base: string } & Record<Group, string>;
  /** move processes (each with all its threads; children forked later inherit the group) */
  move(group: Group, pids: number[]): void;
  /** pids now in a group */
  pids(group: Group): number[];
  /** move whatever is left back to the root cgroup and remove the directories; safe to call twice */
  remove(): Promise<void>;
}

const readPids = (dir: string): number[] => fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);

/** writePid - one pid into a cgroup.procs; a process that has exited meanwhile is not an error. */
function writePid(dir: string, pid: number): void {
  try {
    fs.writeFileSync(path.join(dir, 'cgroup.procs'), `${pid}\n`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw new Error(`moving pid ${pid} into ${dir}: ${(err as Error).message}`, { cause: err });
  }
}

/** createPodCgroups - the run's two groups with equal cpu.shares; a leftover of the same pid is an error. */
export function createPodCgroups(pid = process.pid, root = CPU_CGROUP_ROOT, cpus = os.availableParallelism()): PodCgroups {
  const paths = cgroupPaths(pid, root);
  fs.mkdirSync(paths.base);
  const cgroups: PodCgroups = {
    paths,
    move: (group, pids) => {
      for (const p of pids) writePid(paths[group], p);
    },
    pids: (group) => readPids(paths[group]),
    remove: async () => {
      // a process forked by one being moved out can land in the group after the listing: retry
      for (let attempt = 1; ; attempt++) {
        try {
          for (const group of GROUPS) {
            if (!fs.existsSync(paths[group])) continue;
            for (const p of readPids(paths[group])) writePid(root, p);
            fs.rmdirSync(paths[group]);
          }
          if (fs.existsSync(paths.base)) fs.rmdirSync(paths.base);
          return;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EBUSY' || attempt >= 20) throw new Error(`removing ${paths.base}: ${(err as Error).message}`, { cause: err });
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    },
  };
  try {
    fs.writeFileSync(path.join(paths.base, 'cpu.shares'), `${podsShares(cpus)}\n`);
    for (const group of GROUPS) {
      fs.mkdirSync(paths[group]);
      fs.writeFileSync(path.join(paths[group], 'cpu.shares'), `${POD_SHARES}\n`);
    }
  } catch (err) {
    void cgroups.remove().catch(() => undefined);
    throw new Error(`creating ${paths.base}: ${(err as Error).message}`, { cause: err });
  }
  return cgroups;
}
