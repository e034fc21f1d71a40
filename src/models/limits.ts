/** Limits on the U-Net options, apart from the network so the command line can read them without the addon. */

/**
 * The largest U-Net patho builds, so options read from a checkpoint cannot
 * ask for absurd widths or depths: the widest level has baseChannels *
 * 2^depth channels (4096 is 4 times the original U-Net's, a 250M-parameter
 * network), and every image is padded to a multiple of 2^depth.
 */
export const UNET_LIMITS = { depth: 8, widestChannels: 4096, inChannels: 4096, classes: 4096 } as const;
