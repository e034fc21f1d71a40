/**
 * What the planner knows about the machine before measuring it: the device,
 * the cores, the memory and the CPU's bfloat16 instructions. Read from the OS
 * (/proc/cpuinfo), never assumed: machines of one kind differ (one had AMX,
 * another only AVX512-BF16). No addon here; the GPU count is passed in.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';

export interface MachineInfo {
  /** the device the plan is for: 'cpu' or 'cuda:N' */
  device: string;
  kind: 'cpu' | 'cuda';
  /** GPUs libtorch sees */
  gpus: number;
  /** cores this process may use */
  cores: number;
  cpuModel: string;
  /** the CPU's instructions that run bfloat16 natively (oneDNN uses them under autocast) */
  bf16: { avx512bf16: boolean; amx: boolean };
  memoryBytes: number;
}

/** The model name and the bf16-relevant flags of /proc/cpuinfo's text. */
export function parseCpuInfo(text: string): { cpuModel: string; bf16: MachineInfo['bf16'] } {
  const field = (name: string) => text.match(new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm'))?.[1]?.trim() ?? '';
  const flags = new Set(field('flags').split(/\s+/));
  return {
    cpuModel: field('model name') || 'unknown CPU',
    bf16: { avx512bf16: flags.has('avx512_bf16'), amx: flags.has('amx_bf16') && flags.has('amx_tile') },
  };
}

/** The text of /proc/cpuinfo; '' where there is none (not Linux), so that no bf16 is assumed. */
export function readCpuInfo(): string {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return '';
  }
}

/** This machine, planning for `device` ('cpu' or 'cuda:N'); `gpus` is what libtorch reports. */
export function describeMachine(device: string, gpus: number): MachineInfo {
  const cpuinfo = readCpuInfo();
  return {
    device,
    kind: device.startsWith('cuda') ? 'cuda' : 'cpu',
    gpus,
    cores: availableParallelism(),
    ...parseCpuInfo(cpuinfo),
    memoryBytes: totalmem(),
  };
}

/** One line: "cpu, 2 cores (AMD EPYC 9R14, AVX512-BF16), 8 GiB". */
export function machineSummary(m: MachineInfo): string {
  const bf16 = m.bf16.amx ? 'AMX' : m.bf16.avx512bf16 ? 'AVX512-BF16, no AMX' : 'no bf16 instructions';
  const where = m.kind === 'cuda' ? `${m.device} (${m.gpus} GPU${m.gpus === 1 ? '' : 's'}), host` : 'cpu,';
  return `${where} ${m.cores} cores (${m.cpuModel}, ${bf16}), ${(m.memoryBytes / 2 ** 30).toFixed(0)} GiB`;
}
