/**
 * What `--amp` means on the device at hand. On a GPU, bfloat16 autocast. On a
 * CPU, bfloat16 only where it has bfloat16 arithmetic (AVX512-BF16 or AMX):
 * elsewhere ATen emulates bfloat16, slower than float32, and some of its
 * kernels have no bfloat16 version at all (conv_transpose2d fails with "not
 * implemented for BFloat16"), so --amp falls back to float32 there and says so,
 * as its help promises ("a no-op where the device lacks it").
 */
import { cpuHasFastBfloat16 } from '../infer/engine.js';
import { readCpuInfo } from '../plan/machine.js';

export interface AmpContext {
  /** the command, at the start of the warning line: 'patho train' */
  command: string;
  /** the option that asked for bfloat16 (default --amp) */
  option?: string;
  /** receives the one line explaining a fallback (default: stderr; a no-op on a job's other ranks) */
  warn?: (line: string) => void;
  /** /proc/cpuinfo's text (given in tests) */
  cpuinfo?: string;
}

/** The autocast dtype for `asked` (--amp) on `device`; null is float32. */
export function ampFor(asked: boolean | undefined, device: string, context: AmpContext): 'bfloat16' | null {
  if (!asked) return null;
  const { command, option = '--amp', warn = (line: string) => process.stderr.write(line + '\n'), cpuinfo = readCpuInfo() } = context;
  if (device === 'cpu' && !cpuHasFastBfloat16(cpuinfo)) {
    warn(`${command}: ${option}: this CPU has no bfloat16 arithmetic (neither AVX512-BF16 nor AMX); computing in float32`);
    return null;
  }
  return 'bfloat16';
}
