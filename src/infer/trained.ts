/** Rebuilding a trained U-Net from its checkpoint. */
import { UNet, type UNetOptions } from '../models/unet.js';
import { disposeCheckpoint, loadCheckpoint, type CheckpointMeta } from '../train/checkpoint.js';

/** The network of a patho checkpoint, with its weights, in evaluation mode. */
export async function loadTrainedNet(path: string, options: { device?: string } = {}): Promise<{ net: UNet; meta: CheckpointMeta }> {
  const checkpoint = await loadCheckpoint(path, options);
  try {
    if (!checkpoint.meta.unet) {
      throw new Error(
        `${path} holds weights but no architecture (a plain state_dict?); load it with ` +
          `new UNet({...}).loadStateDict(await loadStateDictFile(path)) instead`,
      );
    }
    const net = new UNet(checkpoint.meta.unet as UNetOptions);
    if (options.device && options.device !== 'cpu') net.to(options.device);
    try {
      net.loadStateDict(checkpoint.model);
    } catch (e) {
      net.dispose();
      throw new Error(`${path}: ${e instanceof Error ? e.message : e}`);
    }
    net.eval();
    return { net, meta: checkpoint.meta };
  } finally {
    disposeCheckpoint(checkpoint);
  }
}
