/** Rebuilding a trained U-Net from its checkpoint. */
import { CheckpointError } from '../io/errors.js';
import { checkUNetOptions, UNet, type UNetOptions } from '../models/unet.js';
import { disposeCheckpoint, loadCheckpoint, type CheckpointMeta } from '../train/checkpoint.js';

/** The network of a patho checkpoint, with its weights, in evaluation mode. */
export async function loadTrainedNet(path: string, options: { device?: string } = {}): Promise<{ net: UNet; meta: CheckpointMeta }> {
  const checkpoint = await loadCheckpoint(path, options);
  try {
    if (!checkpoint.meta.unet) {
      throw new CheckpointError(
        path,
        'holds weights but no architecture, so it is not a patho model (a plain state_dict?); load it with ' +
          'new UNet({...}).loadStateDict(await loadStateDictFile(path)) instead',
      );
    }
    let architecture: Required<UNetOptions>;
    try {
      architecture = checkUNetOptions(checkpoint.meta.unet as UNetOptions);
    } catch (e) {
      throw new CheckpointError(path, `meta.unet: ${e instanceof Error ? e.message : e}`);
    }
    const net = new UNet(architecture);
    if (options.device && options.device !== 'cpu') net.to(options.device);
    try {
      net.loadStateDict(checkpoint.model);
    } catch (e) {
      net.dispose();
      throw new CheckpointError(path, `its weights do not fit the U-Net it describes: ${e instanceof Error ? e.message : e}`);
    }
    net.eval();
    return { net, meta: checkpoint.meta };
  } finally {
    disposeCheckpoint(checkpoint);
  }
}
