/**
 * Which network prediction runs: the folded inference network (folded.ts) in
 * the precision the device does fastest. bfloat16 only on CPUs whose flags say
 * oneDNN has bfloat16 arithmetic for it (AVX512-BF16 or AMX); elsewhere a
 * bfloat16 conv is emulated and slower than float32.
 */
import type { UNet } from '../models/unet.js';
import { parseCpuInfo, readCpuInfo } from '../plan/machine.js';
import { FoldedUNet } from './folded.js';

/**
 * True when /proc/cpuinfo (or the given text) lists avx512_bf16, or AMX
 * (amx_bf16 with amx_tile), as the planner reads them (plan/machine.ts).
 * Not Linux: no flags, so float32, the safe side.
 */
export function cpuHasFastBfloat16(cpuinfo: string = readCpuInfo()): boolean {
  const { bf16 } = parseCpuInfo(cpuinfo);
  return bf16.avx512bf16 || bf16.amx;
}

/**
 * The folded network for `device`: bfloat16 on a CPU with fast bfloat16 when
 * `amp` asks for it, float32 otherwise (a GPU's mixed precision stays autocast,
 * applied around the forward pass by the tiling code).
 */
export function inferenceNetFor(net: UNet, device: string, amp: boolean): { net: FoldedUNet; autocast: 'bfloat16' | null } {
  if (device === 'cpu') {
    const bf16 = amp && cpuHasFastBfloat16();
    return { net: new FoldedUNet(net, { dtype: bf16 ? 'bfloat16' : 'float32' }), autocast: null };
  }
  return { net: new FoldedUNet(net, { memoryFormat: 'contiguous' }), autocast: amp ? 'bfloat16' : null };
}
