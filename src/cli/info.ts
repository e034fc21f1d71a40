/** `patho info`: what a checkpoint holds, and the libtorch this machine runs. */
import { existsSync } from 'node:fs';
import { loadCheckpoint, disposeCheckpoint, type CheckpointMeta } from '../train/checkpoint.js';
import { buildInfo, cuda, getNumThreads } from '../tensor/runtime.js';
import { UsageError } from './args.js';
import type { InfoOptions } from './commands.js';

export async function infoCommand(o: InfoOptions): Promise<number> {
  if (!existsSync(o.model)) throw new UsageError(`--model ${o.model}: no such file`, 'patho info');
  const checkpoint = await loadCheckpoint(o.model);
  // batch norm's running statistics are buffers, not parameters (num_batches_tracked is int64)
  const parameters = [...checkpoint.model].reduce((n, [name, t]) => n + (t.dtype.startsWith('float') && !/running_(mean|var)$/.test(name) ? t.numel : 0), 0);
  disposeCheckpoint(checkpoint);
  const build = buildInfo();
  const runtime = {
    libtorch: build.torchVersion,
    cudaDevices: cuda.deviceCount(),
    device: cuda.isAvailable() ? 'cuda:0' : 'cpu',
    threads: getNumThreads(),
  };
  if (o.config) {
    process.stdout.write(JSON.stringify(configOf(checkpoint.meta), null, 2) + '\n');
    return 0;
  }
  const info = { model: o.model, parameters, ...checkpoint.meta, runtime };
  if (o.json) {
    process.stdout.write(JSON.stringify(info) + '\n');
    return 0;
  }
  const m = checkpoint.meta;
  const lines = [
    `checkpoint      ${o.model} (${m.format})`,
    `architecture    ${m.unet ? `U-Net depth ${m.unet.depth}, base ${m.unet.baseChannels} channels, ${m.unet.inChannels} in, ${m.unet.classes} class(es), ${m.unet.upsample} upsampling, ${m.unet.padding} padding, batch norm ${m.unet.batchNorm ? 'on' : 'off'}` : 'unknown (plain state_dict)'}`,
    `parameters      ${(parameters / 1e6).toFixed(3)} M`,
    ...(m.downsample && m.downsample > 1 ? [`resolution      1/${m.downsample} of the images' pixels (--downsample ${m.downsample}): predict, eval and the browser page shrink input alike`] : []),
    `trained         ${m.epoch ?? '?'} epochs on ${m.device ?? '?'}${m.savedAt ? `, saved ${m.savedAt}` : ''}`,
    `training        ${m.training ? Object.entries(m.training).map(([k, v]) => `${k}=${v}`).join(' ') : '?'}`,
    `normalisation   ${m.normalization ? `mean [${m.normalization.mean.map((v) => v.toFixed(4))}] std [${m.normalization.std.map((v) => v.toFixed(4))}]` : 'none'}`,
    `best val Dice   ${m.bestDice ?? 'n/a'}`,
    `threshold       ${m.threshold} (predict and eval use it unless given --threshold)`,
    `trained with    libtorch ${m.torchVersion ?? '?'}`,
    `this machine    libtorch ${runtime.libtorch}, ${runtime.device}, ${runtime.threads} threads, ${runtime.cudaDevices} CUDA device(s)`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

/**
 * What `patho train --config` replays of a checkpoint: the plan it was made
 * from, or, without one, the options of patho train that it records.
 */
function configOf(meta: CheckpointMeta): object {
  if (meta.plan) return meta.plan;
  const { unet, training } = meta;
  if (!unet || !training) throw new UsageError(`${meta.format === 'state_dict' ? 'a plain state_dict' : 'this checkpoint'} records no training options to print as a config`, 'patho info');
  return {
    depth: unet.depth, baseChannels: unet.baseChannels, batchNorm: unet.batchNorm, upsample: unet.upsample, padding: unet.padding, dropout: unet.dropout,
    lr: training.lr, optimizer: training.optimizer, momentum: training.momentum, schedule: training.schedule,
    // several classes always train with cross-entropy, which --loss does not name
    ...(unet.classes === 1 && training.loss ? { loss: training.loss } : {}),
    amp: training.amp !== null && training.amp !== undefined, channelsLast: training.memoryFormat === 'channelsLast',
    ...(meta.downsample && meta.downsample > 1 ? { downsample: meta.downsample } : {}),
  };
}
