/**
 * The mask value of pixels nobody labelled (outside every annotation of a
 * partially annotated slide, or inside a region drawn as "Ignore"): the losses
 * give them no weight and the metrics do not count them. 255, as PyTorch
 * segmentation code conventionally passes to cross_entropy's ignore_index,
 * and far above any class index a U-Net here has.
 */
export const IGNORE_LABEL = 255;
