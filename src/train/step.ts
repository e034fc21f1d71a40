/**
 * One training step: forward (under autocast when asked), loss, backward,
 * gradient averaging across ranks, optimizer update. The trainer, every
 * benchmark and the distributed test workers call this one function, so what
 * they measure and check is what trains.
 *
 * The loss is read back to the host once, after backward: reading it first
 * would make the host wait for the forward pass before it can queue backward.
 */
import type { Loss } from '../losses/index.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { DistributedDataParallel } from '../parallel/ddp.js';
import { cuda, mixedPrecision } from '../tensor/runtime.js';
import { tidy } from '../tensor/scope.js';
import type { DType, Tensor } from '../tensor/tensor.js';
import type { GradScaler } from './scaler.js';

/** What a step works with; built once per run. */
export interface StepParts {
  net: { forward(input: Tensor): Tensor };
  loss: Loss;
  optimizer: Optimizer<{ lr: number }>;
  device: string;
  /** autocast dtype of the forward pass, or null for float32 */
  amp?: DType | null;
  /** float16 loss scaling (CUDA only) */
  scaler?: GradScaler | null;
  /** data-parallel training: gradients averaged over ranks before the update */
  ddp?: DistributedDataParallel | null;
  /** milliseconds per phase, summed over steps, when given (the benchmarks' profile); syncs a GPU between phases */
  times?: StepTimes;
}

/** Milliseconds spent in each phase, summed over `steps` steps. */
export interface StepTimes {
  forward: number;
  backward: number;
  sync: number;
  optimizer: number;
  steps: number;
  /** milliseconds clock; default performance.now (wall time); a CPU-time clock measures work on a busy machine */
  clock: () => number;
}

export function emptyStepTimes(clock: () => number = () => performance.now()): StepTimes {
  return { forward: 0, backward: 0, sync: 0, optimizer: 0, steps: 0, clock };
}

export interface StepResult {
  /** the batch's mean loss (over every rank's batch when data-parallel); NaN/Inf when it was not stepped on */
  loss: number;
  /** true when this or any other rank asked to stop after this step */
  stop: boolean;
}

/**
 * Trains on one batch. A loss that is not finite (on any rank) leaves the
 * weights untouched and is returned for the caller to act on.
 *
 * @param images [N, C, H, W] on the parts' device
 * @param masks the loss's target for those images
 * @param stop this rank wants the run to stop after this step; every rank
 *   learns it through the all-reduce that already agrees on the loss
 */
export function trainStep(parts: StepParts, images: Tensor, masks: Tensor, stop = false): StepResult {
  const { net, loss, optimizer, device, amp, scaler, ddp, times } = parts;
  const clock = times ? phaseClock(device, times.clock) : null;
  const local = tidy(() => {
    const value = loss(mixedPrecision(device, amp, () => net.forward(images)), masks);
    clock?.lap(times!, 'forward');
    ddp?.prepareForBackward();
    (scaler ? scaler.scaleLoss(value) : value).backward();
    const v = value.item();
    clock?.lap(times!, 'backward');
    return v;
  });
  let result: StepResult = { loss: local, stop };
  if (ddp) {
    // the gradients' all-reduces (started during backward) finish before any other collective, so every rank issues its collectives in one order
    ddp.syncGradients();
    // ranks agree on the loss (its mean), so a NaN on one rank stops them all at the same step
    const [sum, stops] = ddp.sumAcrossRanks(new Float64Array([local, stop ? 1 : 0]));
    result = { loss: sum / ddp.group.worldSize, stop: stops > 0 };
  }
  clock?.lap(times!, 'sync');
  if (!Number.isFinite(result.loss)) {
    optimizer.zeroGrad();
    return result;
  }
  if (!scaler || scaler.unscale(optimizer.params)) optimizer.step();
  optimizer.zeroGrad();
  if (times) {
    clock!.lap(times, 'optimizer');
    times.steps++;
  }
  return result;
}

/** Adds the time since the previous lap to a phase; on a GPU it waits for the queued work first. */
function phaseClock(device: string, now: () => number) {
  const onCuda = device.startsWith('cuda');
  let last = now();
  return {
    lap(times: StepTimes, phase: 'forward' | 'backward' | 'sync' | 'optimizer'): void {
      if (onCuda) cuda.synchronize(device);
      const t = now();
      times[phase] += t - last;
      last = t;
    },
  };
}
